//go:build wasip1

package main

// externalF is ?MODULE:f(): an import of this module's own name, linked by
// the host to the current version's f at each call.
//
//go:wasmimport test2 f
func externalF() int32
