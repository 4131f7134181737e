package host

import (
	"bytes"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"time"
)

// The Go memory limit and the memory outside the Go heap.
//
// A node's process may run with a soft memory limit (wasmhot serve sets
// the budget plus an eighth), so that the garbage collector works harder
// as the process nears it. Linear memories live outside the Go heap
// (memory.go), where the runtime's limit does not see them. So while a
// host runs in a process that has a memory limit, the limit is lowered by
// what the process holds outside the Go runtime: its resident memory less
// the runtime's own, read every followEvery. The limit then bounds the
// process as a whole, and the heap has all the room the guests do not
// use: a node whose budget is filled by idle processes' memories no longer
// has its heap at the limit, which made the collector run without pause.
// The limit never goes below a quarter of the one the process had, and it
// is restored when the last host closes.
//
// Where the resident size cannot be read (no /proc/self/statm), nothing
// is changed.

const followEvery = 100 * time.Millisecond

var memLimit struct {
	mu    sync.Mutex
	users int
	base  int64 // the process's limit before the first host
	stop  chan struct{}
	done  chan struct{}
}

// followMemoryLimit starts following the memory outside the Go runtime,
// for one host; the function it returns stops it for that host.
func followMemoryLimit() (unfollow func()) {
	memLimit.mu.Lock()
	defer memLimit.mu.Unlock()
	if memLimit.users == 0 {
		base := debug.SetMemoryLimit(-1)
		if _, ok := residentBytes(); base == math.MaxInt64 || !ok {
			return func() {}
		}
		memLimit.base = base
		memLimit.stop, memLimit.done = make(chan struct{}), make(chan struct{})
		go followOutside(base, memLimit.stop, memLimit.done)
	}
	memLimit.users++
	var once sync.Once
	return func() {
		once.Do(func() {
			memLimit.mu.Lock()
			defer memLimit.mu.Unlock()
			if memLimit.users--; memLimit.users == 0 {
				close(memLimit.stop)
				<-memLimit.done
				debug.SetMemoryLimit(memLimit.base)
			}
		})
	}
}

// followOutside sets the limit to base less the memory outside the Go
// runtime every followEvery, until stop closes.
func followOutside(base int64, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if rss, ok := residentBytes(); ok {
			debug.SetMemoryLimit(limitFor(base, rss, goMappedBytes()))
		}
	}
}

// limitFor is the runtime's limit for a process whose limit is base, with
// rss resident bytes of which the runtime holds at most goMapped.
func limitFor(base, rss, goMapped int64) int64 {
	outside := max(0, rss-goMapped)
	return max(base-outside, base/4)
}

var goMemSamples = []metrics.Sample{
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
}

// goMappedBytes is the memory the Go runtime has mapped and not given
// back, what its memory limit counts (some of it may not be resident yet,
// so the memory outside it is underestimated, never overestimated).
func goMappedBytes() int64 {
	metrics.Read(goMemSamples)
	total, released := goMemSamples[0].Value, goMemSamples[1].Value
	if total.Kind() != metrics.KindUint64 || released.Kind() != metrics.KindUint64 {
		return math.MaxInt64
	}
	return int64(total.Uint64() - released.Uint64())
}

var pageSize = int64(os.Getpagesize())

// residentBytes reads the process's resident set size.
func residentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * pageSize, true
}
