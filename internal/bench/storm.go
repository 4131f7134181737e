package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/host"
)

// StormResult is what a reload storm measured.
type StormResult struct {
	Mode          string  `json:"mode"`
	Callers       int     `json:"callers"`
	Reloads       int     `json:"reloads"`
	SteadyPerSec  float64 `json:"steady_calls_per_sec"`
	StormPerSec   float64 `json:"storm_calls_per_sec"`
	Ratio         float64 `json:"ratio"`
	FailedCalls   int64   `json:"failed_calls"`
	StormDuration string  `json:"storm_duration"`
	// ReloadMedian, ReloadP99 and ReloadMax are the latencies of the
	// reloads (each Reload call, compile to switch), in nanoseconds.
	ReloadMedian time.Duration `json:"reload_median_ns"`
	ReloadP99    time.Duration `json:"reload_p99_ns"`
	ReloadMax    time.Duration `json:"reload_max_ns"`
}

// Storm measures Go calls of counter:version per second from callers
// goroutines that never yield (as a busy program's would not), first for
// steady (no reloads), then while the module is reloaded (purge + load,
// alternating two versions) reloads times, paced over the same span; it
// counts the calls that failed and times each reload. Run it with
// GOMAXPROCS below the number of callers to see reloads compete with them
// for the cores.
func Storm(ctx context.Context, mode host.Mode, callers, reloads int, steady time.Duration) (StormResult, error) {
	res := StormResult{Mode: mode.String(), Callers: callers, Reloads: reloads}
	h, err := host.New(ctx, host.NewConfig().WithMode(mode).WithLog(nil))
	if err != nil {
		return res, err
	}
	defer h.Close(ctx)
	vs := [][]byte{wasm("counter_v1"), wasm("counter_v2")}
	if _, err := h.Load(ctx, "counter", vs[0]); err != nil {
		return res, err
	}
	f, err := h.Func("counter", "version")
	if err != nil {
		return res, err
	}
	var calls, failed atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stack := make([]uint64, 1)
			for !stop.Load() {
				if err := f.CallWithStack(ctx, stack); err != nil {
					failed.Add(1)
				}
				calls.Add(1)
			}
		}()
	}
	time.Sleep(steady / 10) // warm up
	c0, t0 := calls.Load(), time.Now()
	time.Sleep(steady)
	res.SteadyPerSec = float64(calls.Load()-c0) / time.Since(t0).Seconds()

	// reloads reloads paced over the steady span (one per steady/reloads,
	// as fast as they go if slower): the storm measures what reloads cost
	// the callers, not how much of a core a reload loop takes.
	pace := steady / time.Duration(reloads)
	c0, t0 = calls.Load(), time.Now()
	lat := make([]time.Duration, 0, reloads)
	i := 1
	for ; i <= reloads; i++ {
		if wait := time.Until(t0.Add(time.Duration(i-1) * pace)); wait > 0 {
			time.Sleep(wait)
		}
		r0 := time.Now()
		_, _, err := h.Reload(ctx, "counter", vs[i%2])
		lat = append(lat, time.Since(r0))
		if err != nil {
			stop.Store(true)
			wg.Wait()
			return res, fmt.Errorf("reload %d: %w", i, err)
		}
	}
	d := time.Since(t0)
	res.StormPerSec = float64(calls.Load()-c0) / d.Seconds()
	res.Reloads = i - 1
	stop.Store(true)
	wg.Wait()
	res.FailedCalls = failed.Load()
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		res.ReloadMedian, res.ReloadP99, res.ReloadMax = lat[n/2], lat[(n*99+99)/100-1], lat[n-1]
	}
	res.StormDuration = d.Round(time.Millisecond).String()
	if res.SteadyPerSec > 0 {
		res.Ratio = res.StormPerSec / res.SteadyPerSec
	}
	return res, nil
}

// LoadRestart measures the load of a module that an earlier host, using
// the same compilation cache directory, compiled: the persistent-cache hit
// after a restart. Each op starts a fresh host on the directory.
func LoadRestart(r Runner) {
	for _, m := range benchModes {
		r.Run(m.name+"/wasmhot_dircache", func(b *testing.B) {
			dir, err := os.MkdirTemp("", "wasmhot-bench-cache")
			if err != nil {
				b.Fatal(err)
			}
			defer os.RemoveAll(dir)
			small := wasm("bench_small")
			cfg := host.NewConfig().WithMode(m.mode).WithLog(nil).WithCompilationCacheDir(dir)
			warm, err := host.New(benchCtx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := warm.Load(benchCtx, "small", small); err != nil {
				b.Fatal(err)
			}
			_ = warm.Close(benchCtx)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				h, err := host.New(benchCtx, cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := h.Load(benchCtx, "small", small); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_ = h.Close(benchCtx)
				b.StartTimer()
			}
		})
	}
}
