// Package bench holds wasmhot's benchmarks: each wasmhot path measured next
// to the raw wazero floor for the same work, in the same run, so that the
// ratio means something on a noisy machine. `go test -bench` runs them
// through host/bench_test.go; `wasmhot bench` runs them in one process and
// prints the table.
package bench

import (
	"context"
	"testing"

	"github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/host"
)

// Runner runs named sub-benchmarks; *testing.B is one.
type Runner interface {
	Run(name string, f func(b *testing.B)) bool
}

// Group is one benchmark: a name and the function that runs its cases.
type Group struct {
	Name string
	Run  func(Runner)
}

// Groups lists every benchmark, in the order of the report.
var Groups = []Group{
	{"CallExt", CallExt},
	{"LocalCall", LocalCall},
	{"Loop", Loop},
	{"EmptyLoop", EmptyLoop},
	{"Recursion", Recursion},
	{"Kill", Kill},
	{"GC", GC},
	{"Fuel", Fuel},
	{"HostCall", HostCall},
	{"GoCall", GoCall},
	{"Spawn", Spawn},
	{"MessageRoundTrip", MessageRoundTrip},
	{"Switch", Switch},
	{"Modules", Modules},
	{"Load", Load},
	{"LoadRestart", LoadRestart},
}

var wasm = guestexamples.Wasm

func newHost(b *testing.B, cfg host.Config) *host.Host {
	b.Helper()
	h, err := host.New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

func mustLoad(b *testing.B, h *host.Host, name, file string) {
	b.Helper()
	if _, err := h.Load(context.Background(), name, wasm(file)); err != nil {
		b.Fatalf("load %s as %s: %v", file, name, err)
	}
}
