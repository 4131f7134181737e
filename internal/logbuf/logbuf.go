// Package logbuf puts a bounded buffer and a goroutine of its own between
// log lines and the writer they go to (a node's stdout, a program's log
// file), so that a slow or blocked writer never blocks whoever logs: the
// guests, a kill, a shutdown. Lines that do not fit are dropped, counted,
// and reported in the output once it moves again.
package logbuf

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Writer is an io.Writer of whole lines that never blocks. Its zero value
// is not usable; call New.
type Writer struct {
	out io.Writer
	max int // bytes queued at most

	mu      sync.Mutex
	queue   [][]byte
	queued  int
	dropped int
	closed  bool
	wake    chan struct{} // a line was queued
	done    chan struct{} // the drain goroutine ended
}

// New returns a Writer that writes to out from a goroutine of its own,
// holding at most maxBytes of lines not yet written.
func New(out io.Writer, maxBytes int) *Writer {
	w := &Writer{out: out, max: maxBytes, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go w.drain()
	return w
}

// Write queues p (one or more whole lines) and returns at once. When the
// queue is full, p is dropped and counted; Write still reports success,
// since a log line must not fail the code that logs it.
func (w *Writer) Write(p []byte) (int, error) {
	w.put(p, true)
	return len(p), nil
}

// Put is Write for a caller that hands p over: p is queued as it is, not
// copied, and the caller must not change it after.
func (w *Writer) Put(p []byte) { w.put(p, false) }

func (w *Writer) put(p []byte, mustCopy bool) {
	w.mu.Lock()
	if w.closed || w.queued+len(p) > w.max {
		w.dropped++
		w.mu.Unlock()
		return
	}
	if mustCopy {
		p = append([]byte(nil), p...)
	}
	w.queue = append(w.queue, p)
	w.queued += len(p)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Room reports whether a write of n bytes would be queued now. When it
// would not, it counts the write as dropped: a caller that formats its
// lines checks first, so that a flood of lines nobody can take costs no
// formatting.
func (w *Writer) Room(n int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.queued+n > w.max {
		w.dropped++
		return false
	}
	return true
}

// Dropped returns the number of writes dropped so far.
func (w *Writer) Dropped() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped
}

func (w *Writer) drain() {
	defer close(w.done)
	reported := 0
	for {
		w.mu.Lock()
		batch := w.queue
		w.queue = nil
		dropped, closed := w.dropped, w.closed
		w.mu.Unlock()
		for _, b := range batch {
			_, _ = w.out.Write(b)
			w.mu.Lock()
			w.queued -= len(b) // lines count until written: max bounds them all
			w.mu.Unlock()
		}
		// The lines dropped so far came after those of the batch (they
		// were dropped because the batch filled the queue).
		if n := dropped - reported; n > 0 {
			fmt.Fprintf(w.out, "wasmhot: %d log line(s) dropped: the log output was too slow\n", n)
			reported = dropped
		}
		if len(batch) > 0 {
			continue
		}
		if closed {
			return
		}
		<-w.wake
	}
}

// Close stops taking lines and waits, up to wait, for the queued ones to
// be written. It returns false when the output did not take them in time
// (the goroutine ends whenever the output moves again).
func (w *Writer) Close(wait time.Duration) bool {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.done:
		return true
	case <-t.C:
		return false
	}
}
