package logbuf

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// stuck is an output that blocks every write until released, as a pipe
// nobody reads does.
type stuck struct {
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (s *stuck) Write(p []byte) (int, error) {
	<-s.release
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// TestStuckOutput: with the output blocked, writes return at once, what
// does not fit is dropped and counted; once the output moves, the queued
// lines come out in order with a line saying how many were dropped; Close
// does not wait past its bound for a stuck output.
func TestStuckOutput(t *testing.T) {
	out := &stuck{release: make(chan struct{})}
	w := New(out, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			_, _ = fmt.Fprintf(w, "line %03d\n", i) // 9 bytes each
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writes blocked on a stuck output")
	}
	if d := w.Dropped(); d != 1000-11 {
		t.Fatalf("%d dropped of 1,000 with room for 11 lines, want 989", d)
	}
	close(out.release)
	if !w.Close(10 * time.Second) {
		t.Fatal("Close timed out on an output that moves")
	}
	got := out.buf.String()
	if !strings.HasPrefix(got, "line 000\n") || !strings.Contains(got, "log line(s) dropped") {
		t.Fatalf("output %q", got)
	}
	if _, _ = w.Write([]byte("late\n")); strings.Contains(out.buf.String(), "late") {
		t.Fatal("a write after Close was written")
	}

	blocked := New(&stuck{release: make(chan struct{})}, 100)
	_, _ = blocked.Write([]byte("x\n"))
	start := time.Now()
	if blocked.Close(50 * time.Millisecond) {
		t.Fatal("Close reported a stuck output drained")
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("Close waited past its bound")
	}
}

// Room says whether a line would be queued, and counts it dropped when
// not.
func TestRoom(t *testing.T) {
	out := &stuck{release: make(chan struct{})}
	defer close(out.release)
	w := New(out, 20)
	if !w.Room(20) {
		t.Fatal("no room for 20 bytes in an empty queue of 20")
	}
	_, _ = w.Write([]byte("0123456789\n")) // the drain may take it: it blocks on the stuck output
	_, _ = w.Write([]byte("0123456789\n"))
	_, _ = w.Write([]byte("0123456789\n"))
	before := w.Dropped()
	if w.Room(15) {
		t.Fatal("room for 15 bytes in a queue holding 11 of 20")
	}
	if w.Dropped() != before+1 {
		t.Fatalf("dropped %d after a refused Room, want %d", w.Dropped(), before+1)
	}
}
