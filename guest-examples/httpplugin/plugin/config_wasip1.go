//go:build wasip1

package main

import "github.com/wasmhot/wasmhot/guest"

// configGet is the host function config.get(key) -> ptr<<32|len: the
// setting's value, in memory the host got from this module's alloc
// (exported by the guest package), or 0 when the host has no such setting.
//
//go:wasmimport config get
func configGet(key string) uint64

// setting asks the host for the value of a setting ("" when unset).
func setting(key string) string { return string(guest.HostBytes(configGet(key))) }
