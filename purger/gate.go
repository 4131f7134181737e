package purger

import (
	"context"
	"sync"
	"sync/atomic"
)

// Gate counts the calls in flight in one version and, once closed, admits no
// new ones. Enter and Leave are lock-free; the zero value is an open gate.
type Gate struct {
	n      atomic.Int64
	closed atomic.Bool

	mu      sync.Mutex
	drained chan struct{} // closed when n reaches 0 after Close
	onClose func()
}

// OnClose sets a function that Close calls once the gate admits no new
// calls, before it looks at the calls in flight: for a holder that keeps
// admitted tickets parked (an idle instance ready for the next call) to
// give them back. Set it before the gate is used.
func (g *Gate) OnClose(f func()) { g.onClose = f }

// Enter admits one call. It returns false, admitting nothing, when the gate
// is closed: the version is being purged and the caller must look up the
// current version again.
func (g *Gate) Enter() bool {
	if g.closed.Load() {
		return false
	}
	g.n.Add(1)
	if g.closed.Load() {
		g.Leave()
		return false
	}
	return true
}

// Leave ends a call admitted by Enter.
func (g *Gate) Leave() {
	if g.n.Add(-1) == 0 && g.closed.Load() {
		g.signal()
	}
}

// signal closes drained if the gate is closed and empty. The count is read
// again under the lock: the zero a Leave saw may be stale by the time it
// sees the gate closed, when a call entered in between.
func (g *Gate) signal() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.drained == nil || !g.closed.Load() || g.n.Load() != 0 {
		return
	}
	select {
	case <-g.drained:
	default:
		close(g.drained)
	}
}

// InFlight returns the number of calls admitted and not yet left.
func (g *Gate) InFlight() int64 { return g.n.Load() }

// Closed reports whether the gate admits no new calls.
func (g *Gate) Closed() bool { return g.closed.Load() }

// Close stops admitting calls.
func (g *Gate) Close() {
	g.mu.Lock()
	if g.drained == nil {
		g.drained = make(chan struct{})
	}
	g.mu.Unlock()
	g.closed.Store(true)
	if g.onClose != nil {
		g.onClose()
	}
	if g.n.Load() == 0 {
		g.signal()
	}
}

// reopen admits calls again after a refused soft purge.
func (g *Gate) reopen() {
	g.mu.Lock()
	g.closed.Store(false)
	g.drained = nil
	g.mu.Unlock()
}

// Wait blocks until every admitted call has left a closed gate, or ctx ends.
func (g *Gate) Wait(ctx context.Context) error {
	g.mu.Lock()
	ch := g.drained
	g.mu.Unlock()
	if ch == nil {
		panic("purger: Wait on an open gate")
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
