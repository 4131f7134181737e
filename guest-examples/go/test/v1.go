//go:build !v2

package main

const text = "this is old code"
