package host

import (
	"sync/atomic"
	"testing"
)

// heap keeps the test's instances on the heap, where the host's are: an
// instance on a test's stack would have one address for every iteration.
var heap []*instance

func newHeapInstance() *instance {
	in := &instance{}
	heap = append(heap, in)
	return in
}

// BenchmarkCountCall: what a Go call pays to be counted, beside one bare
// atomic add (its floor), alone and with every core counting at once
// (striped, as the host counts, or on one shared counter).
func BenchmarkCountCall(b *testing.B) {
	var s nodeStats
	var shared atomic.Uint64
	b.Run("striped", func(b *testing.B) {
		in := newHeapInstance()
		for b.Loop() {
			s.countCall(in)
		}
	})
	b.Run("floor_atomic_add", func(b *testing.B) {
		for b.Loop() {
			shared.Add(1)
		}
	})
	b.Run("striped_parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			in := newHeapInstance() // each caller holds an instance of its own
			for pb.Next() {
				s.countCall(in)
			}
		})
	})
	b.Run("shared_parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				shared.Add(1)
			}
		})
	})
}

// TestCountCallStripes: calls counted on any stripe add up in Stats.
func TestCountCallStripes(t *testing.T) {
	h := &Host{}
	h.procs.init()
	var want uint64
	for i := range 64 {
		in := newHeapInstance()
		for range i + 1 {
			h.stats.countCall(in)
			want++
		}
	}
	used := 0
	for i := range h.stats.calls {
		if h.stats.calls[i].n.Load() > 0 {
			used++
		}
	}
	if used < 2 {
		t.Errorf("64 instances counted on %d stripe(s)", used)
	}
	if got := h.stats.callsTotal(); got != want {
		t.Errorf("counted %d calls, want %d", got, want)
	}
}
