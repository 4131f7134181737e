package guestexamples_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/host"
)

// The same program (the seeds' test loop, v1) in WAT, Go and C: what a
// guest costs in module size, load (compile) time and spawn (instantiate,
// including the Go runtime's initialisation for Go): BenchmarkLoad and
// BenchmarkSpawn, which also reports the module's size and initial memory.

type costGuest struct {
	lang string
	wasm []byte
}

func costGuests(tb testing.TB) []costGuest {
	return []costGuest{
		{"wat", guestexamples.Wasm("test_v1")},
		{"go", langWasm(tb, "go_test_v1")},
		{"c", langWasm(tb, "c_test_v1")},
	}
}

// idleState makes test:run log one line and then wait 100 s (WAT: sleep;
// Go and C: receive with a timeout), so spawned processes stay idle.
const idleState = "100000"

// costHost returns a host (without a compilation cache: the load time is
// the compile time) with g loaded as "test", and the time the load took.
func costHost(tb testing.TB, g costGuest) (*host.Host, time.Duration) {
	h, err := host.New(ctx, host.NewConfig().WithWASI("*").WithLog(io.Discard).WithStartTimeout(time.Minute))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Close(context.Background()) })
	start := time.Now()
	if _, err := h.Load(ctx, "test", g.wasm); err != nil {
		tb.Fatal(err)
	}
	return h, time.Since(start)
}

// initialPages returns the minimum of the module's exported memory.
func initialPages(tb testing.TB, wasm []byte) uint32 {
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range cm.ExportedMemories() {
		return m.Min()
	}
	return 0
}

// BenchmarkSpawn measures host.Spawn of test:run (it instantiates the
// module, runs _initialize for Go, and starts the process goroutine);
// killing the processes is not timed.
//
//	go test -run '^$' -bench Spawn -benchtime 200x ./guest-examples
func BenchmarkSpawn(b *testing.B) {
	for _, g := range costGuests(b) {
		b.Run(g.lang, func(b *testing.B) {
			h, _ := costHost(b, g)
			pids := make([]host.PID, 0, b.N)
			b.ResetTimer()
			for range b.N {
				pid, err := h.Spawn(ctx, "test", "run", []byte(idleState))
				if err != nil {
					b.Fatal(err)
				}
				pids = append(pids, pid)
			}
			b.StopTimer()
			b.ReportMetric(float64(len(g.wasm)), "module-bytes")
			b.ReportMetric(float64(initialPages(b, g.wasm))*64, "initial-KiB")
			for _, pid := range pids {
				_ = h.Kill(pid)
				_, _ = h.Wait(ctx, pid)
			}
		})
	}
}

// BenchmarkLoad measures host.Load of a fresh host: decode, validate,
// compile and the trial instantiation.
func BenchmarkLoad(b *testing.B) {
	for _, g := range costGuests(b) {
		b.Run(g.lang, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				h, err := host.New(ctx, host.NewConfig().WithWASI("*").WithLog(io.Discard).WithStartTimeout(time.Minute))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := h.Load(ctx, "test", g.wasm); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_ = h.Close(ctx)
				b.StartTimer()
			}
		})
	}
}
