package host_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/host"
)

// blockedWriter never returns from Write until released: a stdout piped
// into a program that does not read.
type blockedWriter struct{ release chan struct{} }

func (w blockedWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

// TestStuckLogOutput: with the log output blocked, a process that logs a
// line per message still handles every message, is killed at once, and
// Close returns.
func TestStuckLogOutput(t *testing.T) {
	ctx := context.Background()
	out := blockedWriter{release: make(chan struct{})}
	defer close(out.release)
	h, err := host.New(ctx, host.NewConfig().WithLog(out))
	if err != nil {
		t.Fatal(err)
	}
	mustLoad(t, h, "a", "a_loop_v1")
	pid, err := h.Spawn(ctx, "a", "run_local", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		if err := h.Send(pid, []byte(fmt.Sprintf("message %d, logged by the guest", i))); err != nil {
			t.Fatal(err)
		}
		if i%500 == 499 {
			waitFor(t, func() bool { pi, _ := h.Process(pid); return pi.MailboxLen == 0 })
		}
	}
	waitFor(t, func() bool { pi, _ := h.Process(pid); return pi.MailboxLen == 0 })
	if err := h.Kill(pid); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if e, err := h.Wait(wctx, pid); err != nil || e.Reason != host.Killed {
		t.Fatalf("kill with the log output blocked: %v %v", e, err)
	}
	closed := make(chan error, 1)
	go func() { closed <- h.Close(ctx) }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked on the log output")
	}
}
