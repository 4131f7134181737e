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
// Calls of guest functions through the API (call, call-bytes) run Wasm on
// the request's goroutine, outside the processes' CPU tokens: at most
// GOMAXPROCS of them run at once, the others wait (bounded by the
// request's context), so that clients calling spinning guests cannot take
// every CPU from the node's other work.

// errBusy is the body reader's failure when the bodies in flight are at
// their bound.
var errBusy = errors.New("the node is reading as many request bodies as it holds at once; retry")

// admission holds the node's request budgets.
type admission struct {
	max    int64        // bytes of bodies in flight
	bodies atomic.Int64 // bytes read and not released
	calls  chan struct{}
}

func newAdmission(maxBodies int64) *admission {
	return &admission{max: maxBodies, calls: make(chan struct{}, runtime.GOMAXPROCS(0))}
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

// call runs f once a call slot is free, or fails when ctx ends first.
func (a *admission) call(ctx context.Context, f func() (any, error)) (any, error) {
	select {
	case a.calls <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-a.calls }()
	return f()
}
