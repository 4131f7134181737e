//go:build !v2

package main

const vsn = 1
