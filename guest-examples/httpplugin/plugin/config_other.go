//go:build !wasip1

package main

// setting stands in for the host function outside wasip1, so that the
// package builds and vets natively.
func setting(key string) string { return "" }
