//go:build unix

package host_test

import (
	"runtime"
	"testing"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/hosttest"
)

// Small linear memories live outside the Go heap too: 200 idle processes
// with 128 KiB memories each (25 MiB of memory, charged to the budget)
// grow the live heap by far less than that, so a budget filled with small
// memories does not hold the heap at the soft memory limit.
func TestSmallMemoriesOutsideHeap(t *testing.T) {
	forModes(t, func(t *testing.T, mode host.Mode) {
		n := hosttest.NewNode(t, host.NewConfig().WithMode(mode))
		n.Load("hog", wasm("hog"))
		const procs, memBytes = 200, 128 << 10
		before := liveHeap()
		charged := n.H.MemoryUsage().Used
		for range procs {
			n.Spawn("hog", "idle", "")
		}
		grew := liveHeap() - before
		if c := n.H.MemoryUsage().Used - charged; c < procs*memBytes {
			t.Fatalf("%d processes charged %d bytes, want their memories' %d at least", procs, c, procs*memBytes)
		}
		if grew >= procs*memBytes/2 {
			t.Fatalf("the live heap grew by %d bytes for %d processes with %d-byte memories: the memories are in the heap", grew, procs, memBytes)
		}
	})
}

func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
