package control

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"
)

// Request bodies.
//
// A request's body is read whole before the request takes a slot
// (admission.go). Its buffer starts at the declared length, at most
// firstBodyBuffer, and doubles as the bytes come, so that a client that
// declares a large body and sends little holds little. Buffers of
// firstBodyBuffer and more come from a small pool and go back to it once
// the request is answered. In a soak where one request in ten carries a
// 1 MiB message, reading bodies into fresh buffers was a sixth of all the
// node allocated (87 MB/s), and allocation is what sets the pace of the
// garbage collector, whose cycles the operator's requests wait behind.

// readBody reads r's body whole, within limit and the bodies' bound, and
// leaves it in r.Body for the handler (a *bodyBytes). The caller gives
// the buffer back with s.bodies.put once the request is answered.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) error {
	b, err := readAll(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, s.bodies)
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		r.Body = &bodyBytes{Reader: bytes.NewReader(b), b: b}
		return nil
	case errors.As(err, &mbe):
		err = tooLarge(limit)
	case errors.Is(err, errBusy):
		err = &Error{Status: http.StatusServiceUnavailable, Code: CodeBusy, Message: errBusy.Error()}
	default:
		err = badRequest("reading the request: %v", err)
	}
	s.bodies.put(b)
	return err
}

// bodyBytes is a request body read whole: handlers that take the body as
// it is (raw sends) use its bytes without copying them, and keep nothing
// of them past the request (the buffer goes back to the pool).
type bodyBytes struct {
	*bytes.Reader
	b []byte
}

func (*bodyBytes) Close() error { return nil }

// firstBodyBuffer is the most a body's buffer starts with, whatever its
// declared length: a client that declares a large body and sends little
// holds little (bodies are counted as they are read, admission.go).
const firstBodyBuffer = 64 << 10

// refusedDrainBytes bounds the body of a request refused for its declared
// length that the node still reads, and drops, before it answers. A
// connection closed with bytes unread is reset, and a client still
// writing its body then fails with "broken pipe" or "connection reset"
// instead of reading the refusal (in a soak, 6 of 5,095 calls with 1 MiB
// names). A larger body is left unread: its client may see the reset.
const refusedDrainBytes = 8 << 20

// drainRefused reads and drops r's body when its declared length is at
// most refusedDrainBytes.
func drainRefused(r *http.Request) {
	if r.ContentLength > 0 && r.ContentLength <= refusedDrainBytes {
		_, _ = io.Copy(io.Discard, r.Body)
	}
}

// readAll reads rd to its end, into a buffer that starts at the declared
// length (at most firstBodyBuffer) and doubles as the bytes come, taking
// its buffers from pool and giving back those it outgrows. io.ReadAll
// grows its buffer by a quarter at a time, copying a 1 MiB body some
// twenty times: in a soak with 1 MiB requests, that was a tenth of the
// node's CPU. A full buffer is not doubled for the read that only sees
// the end: a body of exactly its declared length fits a buffer of that
// length.
func readAll(rd io.Reader, declared int64, pool *bodyPool) ([]byte, error) {
	n := 512
	if declared >= 0 {
		n = int(min(declared, firstBodyBuffer))
	}
	b := pool.get(n)
	for {
		if len(b) == cap(b) {
			var one [1]byte
			k, err := rd.Read(one[:])
			if k > 0 {
				nb := append(pool.get(max(2*cap(b), 512)), b...)
				pool.put(b)
				b = append(nb, one[0])
			}
			if err == io.EOF {
				return b, nil
			}
			if err != nil {
				return b, err
			}
			continue
		}
		k, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+k]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// bodyPool keeps buffers of request bodies for the next requests: for
// each size firstBodyBuffer << i (64 KiB to 16 MiB), up to poolPerClass
// buffers, and poolMaxBytes in all. Smaller buffers are allocated as
// needed, larger ones too and left to the garbage collector.
type bodyPool struct {
	mu   sync.Mutex
	free [poolClasses][][]byte
	kept int64 // bytes of the buffers in free
}

const (
	poolClasses  = 9
	poolPerClass = 8
	poolMaxBytes = 16 << 20
)

// poolClass is the index of the smallest pooled size of at least n bytes;
// false when n is past the largest.
func poolClass(n int) (int, bool) {
	for i := range poolClasses {
		if n <= firstBodyBuffer<<i {
			return i, true
		}
	}
	return 0, false
}

// get returns an empty buffer of at least n bytes.
func (p *bodyPool) get(n int) []byte {
	c, ok := poolClass(n)
	if n < firstBodyBuffer || !ok {
		return make([]byte, 0, n)
	}
	p.mu.Lock()
	if k := len(p.free[c]); k > 0 {
		b := p.free[c][k-1]
		p.free[c][k-1] = nil
		p.free[c] = p.free[c][:k-1]
		p.kept -= int64(cap(b))
		p.mu.Unlock()
		return b
	}
	p.mu.Unlock()
	return make([]byte, 0, firstBodyBuffer<<c)
}

// put gives b back, if it is of a pooled size and there is room; no one
// may use b after.
func (p *bodyPool) put(b []byte) {
	c, ok := poolClass(cap(b))
	if !ok || cap(b) != firstBodyBuffer<<c {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free[c]) < poolPerClass && p.kept+int64(cap(b)) <= poolMaxBytes {
		p.free[c] = append(p.free[c], b[:0])
		p.kept += int64(cap(b))
	}
}
