//go:build v2

package main

const (
	vsn  = "v2"
	step = 10
)
