package control

import (
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"sync/atomic"
)

// Admission: what a request may hold of the node while it is served.
//
// Request bodies are counted as they are read, not by what they declare:
// a client that declares 50 MB and sends ten bytes holds ten bytes. When
// the bodies being read and held (a load keeps its decoded bytes until it
// is answered) would pass Options.MaxBodyBytes, the request that would
// pass it fails at once with 503 busy, and the client may retry: nothing
// waits for a slow client's body, and a fast one is never queued behind
// it.
//
// A request's body is read whole first; then, unless it is a cheap read
// (modules, logs, metrics, health, cluster status), the request takes one
// of 2×GOMAXPROCS request slots, which it holds until its answer is
// written; then, for its handler, a call or work slot as below.
// Calls of guest functions through the API (call, call-bytes) run Wasm on
// the request's goroutine, outside the processes' CPU tokens: at most
// GOMAXPROCS of them run at once. The other requests that do work
// (spawn, send, kill, procs...) run at most GOMAXPROCS at once too. Reads
// that cost little (modules, logs, metrics, health) and code changes
// (serialised anyway) take no slot. Waiting is bounded by the request's
// context. So however many clients decode large bodies or call spinning
// guests, an operator's `modules` competes with a handful of goroutines,
// not with all of them.
//
// The request slots bound what the call and work slots leave free: code
// changes (serialised, but each waiter was a goroutine the scheduler
// served before it reached the lock), encoding answers and writing them.
// With 200 clients sending requests back to back, two dozen goroutines
// were runnable on average, most of them requests just arrived, and an
// operator's `modules` waited behind them all (43 ms at the median, 163
// ms at the 99th percentile in a two-minute soak); with the request
// slots, the others wait blocked, and `modules` waited 22 ms and 88 ms.
//
// The slots are few because a goroutine that waits for a slot is blocked,
// while one that holds a slot is runnable, and the Go scheduler serves
// the runnable ones in turn, in time slices of up to 10 ms: a slot more
// than the cores adds nothing to the throughput of CPU-bound work and
// adds its slices to the wait of every goroutine the network wakes. (One
// call slot on two cores was too few: on a loaded machine, calls then
// waited past the soak clients' 20 s.)

// errBusy is the body reader's failure when the bodies in flight are at
// their bound.
var errBusy = errors.New("the node is reading as many request bodies as it holds at once; retry")

// admission holds the node's request budgets.
type admission struct {
	max    int64        // bytes of bodies in flight
	bodies atomic.Int64 // bytes read and not released
	// requests, calls and work are the slots: of requests past their
	// body, of calls of guest functions, of other work.
	requests chan struct{}
	calls    chan struct{}
	work     chan struct{}
}

func newAdmission(maxBodies int64) *admission {
	n := runtime.GOMAXPROCS(0)
	return &admission{max: maxBodies, requests: make(chan struct{}, 2*n), calls: make(chan struct{}, n), work: make(chan struct{}, n)}
}

// countedBody counts what it reads against the admission's body bound.
type countedBody struct {
	a    *admission
	rc   io.ReadCloser
	held int64
}

// body wraps r's body; release gives its bytes back once the request is
// answered.
func (a *admission) body(r *http.Request) (release func()) {
	cb := &countedBody{a: a, rc: r.Body}
	r.Body = cb
	return func() { a.bodies.Add(-cb.held) }
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		if b.a.bodies.Add(int64(n)) > b.a.max {
			b.a.bodies.Add(-int64(n))
			return 0, errBusy
		}
		b.held += int64(n)
	}
	return n, err
}

func (b *countedBody) Close() error { return b.rc.Close() }

// run runs f once one of slots is free (nil: at once), or fails when ctx
// ends first.
func (a *admission) run(ctx context.Context, slots chan struct{}, f func() (any, error)) (any, error) {
	release, err := take(ctx, slots)
	if err != nil {
		return nil, err
	}
	defer release()
	return f()
}

// take waits for one of slots (nil: none to take), or fails when ctx ends
// first; release gives it back.
func take(ctx context.Context, slots chan struct{}) (release func(), err error) {
	if slots == nil {
		return func() {}, nil
	}
	release = func() { <-slots }
	select {
	case slots <- struct{}{}:
		return release, nil
	default:
	}
	select {
	case slots <- struct{}{}:
		// Woken by the release, this goroutine would run next on the
		// releaser's CPU, in what is left of its time slice, ahead of
		// every goroutine already runnable: requests went through the
		// slots one after another while a `modules` the network had
		// woken waited in the scheduler's global queue, up to 120 ms.
		// Yielding puts it at the back of that queue, in turn.
		runtime.Gosched()
		return release, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
