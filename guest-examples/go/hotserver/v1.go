//go:build !v2 && !v3

package main

const (
	vsn  = "v1"
	step = 1
)
