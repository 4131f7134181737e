//go:build race

package testmode

// Race reports whether the race detector is on: it makes wazero's
// compiler (and everything else) about ten times slower.
const Race = true
