package host

import (
	"bytes"
	"runtime"
	"sync/atomic"
	"testing"
)

// TestCopyInChunksYields: a large copy lets the other goroutines run while
// it copies, even on one CPU, and copies every byte.
func TestCopyInChunksYields(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	src := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 8<<20) // 64 MiB
	dst := make([]byte, len(src))
	var done atomic.Bool
	var turns atomic.Int64
	started := make(chan struct{})
	go func() {
		close(started)
		for !done.Load() {
			turns.Add(1)
			runtime.Gosched()
		}
	}()
	<-started
	before := turns.Load()
	copyInChunks(dst, src)
	ran := turns.Load() - before
	done.Store(true)
	if !bytes.Equal(dst, src) {
		t.Fatal("the copy differs")
	}
	// At 500 µs between yields, a 64 MiB copy yields several times on any
	// machine; without yields, the other goroutine runs only when the
	// scheduler's preemption signal happens to land outside memmove
	// (or, under -race, at the race detector's calls between chunks).
	if ran < 2 {
		t.Fatalf("the other goroutine ran %d times during a 64 MiB copy, want it to have its turns", ran)
	}
}
