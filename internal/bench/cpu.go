package bench

import (
	"context"
	"math"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasmhot/wasmhot/host"
)

// Guest code that runs without calling the host, and how fast the host
// stops it. The guest is guest-examples/wat/cpu.wat.

// Loop: mix(n = b.N), a loop of 12 instructions per iteration (ns/op is
// per iteration), called from Go.
//
//	wasmhot             Func.Call: sandboxed runs the metered module
//	floor               raw wazero, the module as loaded, no interruption
//	floor_closeondone   reference: raw wazero with WithCloseOnContextDone,
//	                    wazero's own way to make a guest interruptible
func Loop(r Runner) { cpuLoop(r, "mix") }

// EmptyLoop: the same for empty(n), a loop of 5 instructions: the worst
// case for a check per iteration (reported, no target).
func EmptyLoop(r Runner) { cpuLoop(r, "empty") }

func cpuLoop(r Runner, fn string) {
	for _, m := range benchModes {
		r.Run(m.name+"/wasmhot", func(b *testing.B) {
			h := benchHost(b, m)
			mustLoad(b, h, "cpu", "cpu")
			benchLoop(b, benchFunc(b, h, "cpu", fn))
		})
		r.Run(m.name+"/floor", func(b *testing.B) {
			benchLoop(b, rawExport(b, rawInstantiate(b, benchCtx, rawRuntime(b), "cpu"), fn))
		})
		r.Run(m.name+"/floor_closeondone", func(b *testing.B) {
			rt := rawRuntimeWith(b, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true))
			benchLoop(b, rawExport(b, rawInstantiate(b, benchCtx, rt, "cpu"), fn))
		})
	}
}

// Recursion: fib(20), 21,891 calls of a small recursive function, per op.
func Recursion(r Runner) {
	for _, m := range benchModes {
		r.Run(m.name+"/wasmhot", func(b *testing.B) {
			h := benchHost(b, m)
			mustLoad(b, h, "cpu", "cpu")
			fib(b, benchFunc(b, h, "cpu", "fib").CallWithStack)
		})
		r.Run(m.name+"/floor", func(b *testing.B) {
			fib(b, rawExport(b, rawInstantiate(b, benchCtx, rawRuntime(b), "cpu"), "fib").CallWithStack)
		})
	}
}

// fib times b.N calls of fib(20) through call and checks the answer.
func fib(b *testing.B, call func(context.Context, []uint64) error) {
	const n, want = 20, 6765
	stack := make([]uint64, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		stack[0] = n
		if err := call(benchCtx, stack); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if stack[0] != want {
		b.Fatalf("fib(%d) = %d", n, stack[0])
	}
}

// Kill: Host.Kill + Wait of a process spinning in Wasm (cpu:spin), per
// op; the p99 is reported too. Sandboxed only: a trusted host cannot stop
// a guest that never calls it.
//
//	wasmhot        the spinner has run at least one fuel slice when killed
//	floor_receive  reference: the same for a process blocked in receive,
//	               woken by the kill (no Wasm to interrupt)
func Kill(r Runner) {
	kill := func(b *testing.B, file, entry string, running func(host.ProcessInfo) bool) {
		h := newHost(b, host.NewConfig().WithLog(nil))
		mustLoad(b, h, "k", file)
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			pid, err := h.Spawn(benchCtx, "k", entry, nil)
			if err != nil {
				b.Fatal(err)
			}
			for {
				pi, err := h.Process(pid)
				if err != nil {
					b.Fatal(err)
				}
				if running(pi) {
					break
				}
				runtime.Gosched()
			}
			b.StartTimer()
			start := time.Now()
			if err := h.Kill(pid); err != nil {
				b.Fatal(err)
			}
			exit, err := h.Wait(benchCtx, pid)
			lat = append(lat, time.Since(start))
			if err != nil || exit.Reason != host.Killed {
				b.Fatalf("exit %v, %v", exit, err)
			}
		}
		b.StopTimer()
		reportPercentile(b, lat, 99)
	}
	r.Run("sandboxed/wasmhot", func(b *testing.B) {
		kill(b, "cpu", "spin", func(pi host.ProcessInfo) bool { return pi.Fuel > 0 })
	})
	r.Run("sandboxed/floor_receive", func(b *testing.B) {
		kill(b, "a_loop_v1", "run", func(pi host.ProcessInfo) bool { return pi.Status == host.Suspended })
	})
}

// reportPercentile reports the p-th percentile of lat as the metric pP-ns.
func reportPercentile(b *testing.B, lat []time.Duration, p int) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	i := min(len(lat)-1, len(lat)*p/100)
	b.ReportMetric(float64(lat[i].Nanoseconds()), "p"+strconv.Itoa(p)+"-ns")
}

// GC: runtime.GC() while two processes spin in Wasm, per op, and the
// longest stop-the-world pause of those collections (metric maxpause-ns).
// A collection stops the world twice, and each stop waits for every
// goroutine to reach a safe point: a guest reaches one at its next fuel
// tick. On two cores the collection itself shares the CPUs with the
// spinners, so ns/op is long even for Go code; the pause is what the rest
// of the program feels. Sandboxed only: in trusted mode the first stop
// would wait for the guests to return, forever.
//
//	wasmhot        two processes spinning in cpu:spin
//	floor_go_spin  reference: two goroutines spinning in Go
//	floor_idle     reference: nothing else running
func GC(r Runner) {
	gc := func(b *testing.B) {
		runtime.GC()
		before := pauses()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			runtime.GC()
		}
		b.StopTimer()
		b.ReportMetric(maxNew(before, pauses()), "maxpause-ns")
	}
	r.Run("sandboxed/wasmhot", func(b *testing.B) {
		h := newHost(b, host.NewConfig().WithLog(nil))
		mustLoad(b, h, "cpu", "cpu")
		var pids []host.PID
		for range 2 {
			pid, err := h.Spawn(benchCtx, "cpu", "spin", nil)
			if err != nil {
				b.Fatal(err)
			}
			pids = append(pids, pid)
		}
		for _, pid := range pids {
			for pi, _ := h.Process(pid); pi.Fuel == 0; pi, _ = h.Process(pid) {
				runtime.Gosched()
			}
		}
		gc(b)
		for _, pid := range pids {
			_ = h.Kill(pid)
		}
	})
	r.Run("sandboxed/floor_go_spin", func(b *testing.B) {
		ctx, cancel := context.WithCancel(benchCtx)
		defer cancel()
		for range 2 {
			go func() {
				x := uint64(1)
				for ctx.Err() == nil {
					for range 1000 {
						x = x*6364136223846793005 + 1442695040888963407
					}
				}
				_ = x
			}()
		}
		gc(b)
	})
	r.Run("sandboxed/floor_idle", gc)
}

const pauseMetric = "/sched/pauses/total/gc:seconds"

// pauses reads the histogram of the runtime's stop-the-world pauses.
func pauses() *metrics.Float64Histogram {
	m := []metrics.Sample{{Name: pauseMetric}}
	metrics.Read(m)
	if m[0].Value.Kind() != metrics.KindFloat64Histogram {
		return &metrics.Float64Histogram{}
	}
	return m[0].Value.Float64Histogram()
}

// maxNew returns the upper bound, in ns, of the highest histogram bucket
// that gained pauses between before and after.
func maxNew(before, after *metrics.Float64Histogram) float64 {
	for i := len(after.Counts) - 1; i >= 0; i-- {
		var was uint64
		if i < len(before.Counts) {
			was = before.Counts[i]
		}
		if after.Counts[i] > was {
			hi := after.Buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = after.Buckets[i]
			}
			return hi * 1e9
		}
	}
	return 0
}

// Fuel: spawn + exit of a process that runs cpu:work (about 3.5 million
// instructions), per op. The metrics are the fuel one run used and the
// number of distinct fuel counts over all runs, which must be 1: fuel is a
// count of instructions, the same on every run.
func Fuel(r Runner) {
	r.Run("sandboxed/wasmhot_work", func(b *testing.B) {
		h := newHost(b, host.NewConfig().WithLog(nil))
		mustLoad(b, h, "cpu", "cpu")
		seen := map[int64]bool{}
		var fuel int64
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			pid, err := h.Spawn(benchCtx, "cpu", "work", nil)
			if err != nil {
				b.Fatal(err)
			}
			if exit, err := h.Wait(benchCtx, pid); err != nil || exit.Reason != host.Normal {
				b.Fatalf("exit %v, %v", exit, err)
			}
			pi, err := h.Process(pid)
			if err != nil {
				b.Fatal(err)
			}
			fuel = pi.Fuel
			seen[fuel] = true
		}
		b.StopTimer()
		b.ReportMetric(float64(fuel), "fuel")
		b.ReportMetric(float64(len(seen)), "distinct")
	})
}
