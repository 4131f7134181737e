//go:build v3

package main

const (
	vsn  = "v3"
	step = 100
)
