//go:build v2

package main

const text = "this is new code"
