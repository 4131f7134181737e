package host

import (
	"sync"
	"sync/atomic"
)

// Safepoints.
//
// A process enters another version's instance through its link table
// without the host seeing it: the depth counter of the entry point is the
// only record. Between the epoch check of a link call and the entry
// point's increment there is a short window, in Wasm, where a process has
// chosen an old version's entry and not yet counted itself in it; a purge
// reading the depth in that window would miss it. So before a purge trusts
// a depth of 0 it waits for the process to reach a safepoint: a tick, a
// host call, or the host code between its calls. A safepoint is outside
// every window, and an atomic operation on the process's side, so after
// it the depth the process wrote is visible, and any later link call sees
// the epoch the load bumped. Running guests tick at least once per fuel
// slice, so the wait is bounded by a slice of the process's time.

// safepoints counts a process's safepoints: odd while it is in host code.
type safepoints struct {
	n    atomic.Uint64
	want atomic.Bool
	mu   sync.Mutex
	wake []chan struct{}
}

// enterHost and leaveHost bracket host code on the process's goroutine.
func (p *process) enterHost() {
	p.sp.n.Add(1)
	if p.sp.want.Load() {
		p.sp.signal()
	}
}

func (p *process) leaveHost() { p.sp.n.Add(1) }

// tickSafepoint records a tick: a safepoint inside Wasm.
func (p *process) tickSafepoint() {
	p.sp.n.Add(2)
	if p.sp.want.Load() {
		p.sp.signal()
	}
}

func (s *safepoints) signal() {
	s.mu.Lock()
	for _, ch := range s.wake {
		close(ch)
	}
	s.wake = nil
	s.want.Store(false)
	s.mu.Unlock()
}

// mark returns the safepoint count to pass to settle.
func (p *process) mark() uint64 { return p.sp.n.Load() }

// settle waits until p is in host code or has passed a safepoint since
// mark, or has exited.
func (p *process) settle(mark uint64) {
	if mark&1 == 1 || p.sp.n.Load() != mark {
		return
	}
	ch := make(chan struct{})
	p.sp.mu.Lock()
	p.sp.wake = append(p.sp.wake, ch)
	p.sp.want.Store(true)
	p.sp.mu.Unlock()
	if p.sp.n.Load() != mark {
		return
	}
	select {
	case <-ch:
	case <-p.done:
	}
}
