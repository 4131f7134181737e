//go:build !wasip1

package main

// externalF stands in for the import outside wasip1, so that the package
// builds and vets natively.
func externalF() int32 { return f() }
