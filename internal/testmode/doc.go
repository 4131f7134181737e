// Package testmode says how thoroughly the tests run.
//
// The README's test command (go test -race ./...) runs every test, with
// the long ones (the full WebAssembly spec suite, the 1,000-reload
// hammers, the Go guests in both execution modes, the HTTP plugin's 100
// reloads) in a shorter form. WASMHOT_LONG=1 runs them in full; .ci/run
// does so after the README's command.
package testmode

import "os"

// Long reports whether the long forms of the tests run (WASMHOT_LONG=1).
func Long() bool { return os.Getenv("WASMHOT_LONG") == "1" }

// Rounds returns long in a long run and short otherwise.
func Rounds(short, long int) int {
	if Long() {
		return long
	}
	return short
}
