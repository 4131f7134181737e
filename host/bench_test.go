package host_test

import (
	"testing"

	"github.com/wasmhot/wasmhot/internal/bench"
)

// The benchmarks live in internal/bench, so that `wasmhot bench` runs the
// same code; see there for what each case measures and its floor.

func BenchmarkCallExt(b *testing.B)          { bench.CallExt(b) }
func BenchmarkLocalCall(b *testing.B)        { bench.LocalCall(b) }
func BenchmarkHostCall(b *testing.B)         { bench.HostCall(b) }
func BenchmarkLoop(b *testing.B)             { bench.Loop(b) }
func BenchmarkEmptyLoop(b *testing.B)        { bench.EmptyLoop(b) }
func BenchmarkRecursion(b *testing.B)        { bench.Recursion(b) }
func BenchmarkKill(b *testing.B)             { bench.Kill(b) }
func BenchmarkGC(b *testing.B)               { bench.GC(b) }
func BenchmarkFuel(b *testing.B)             { bench.Fuel(b) }
func BenchmarkGoCall(b *testing.B)           { bench.GoCall(b) }
func BenchmarkSpawn(b *testing.B)            { bench.Spawn(b) }
func BenchmarkMessageRoundTrip(b *testing.B) { bench.MessageRoundTrip(b) }
func BenchmarkSwitch(b *testing.B)           { bench.Switch(b) }
func BenchmarkModules(b *testing.B)          { bench.Modules(b) }
func BenchmarkLoad(b *testing.B)             { bench.Load(b) }
func BenchmarkLoadRestart(b *testing.B)      { bench.LoadRestart(b) }
