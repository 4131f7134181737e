package host_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/hosttest"
)

// TestLogRate: a guest logging long lines in a loop gets no more through
// than the log rate allows (a second's burst, then the rate), the rest is
// counted as dropped, and once it stops, the next guest line comes after
// one saying how many were dropped. A bad rate is refused.
func TestLogRate(t *testing.T) {
	ctx := context.Background()
	const rate = 64 << 10
	lg := &hosttest.Log{}
	h := newHost(t, host.NewConfig().WithLog(lg).WithLogRate(rate))
	mustLoad(t, h, "hog", "hog")
	mustLoad(t, h, "a", "a_loop_v1")
	start := time.Now()
	spammer, err := h.Spawn(ctx, "hog", "spam", nil)
	if err != nil {
		t.Fatal(err)
	}
	hosttest.WaitFor(t, func() bool { return h.Stats().LogLinesDropped >= 100 })
	if err := h.Kill(spammer); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	time.Sleep(time.Second) // the burst refills
	pid, err := h.Spawn(ctx, "a", "run_local", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Send(pid, []byte("after the flood")); err != nil {
		t.Fatal(err)
	}
	hosttest.WaitFor(t, func() bool { return len(lg.Of(pid)) > 0 })
	// The lines are written in order, by a goroutine of their own: the
	// spammer's are all out now. Each is cut at MaxLogLine and counts
	// with its prefix.
	taken := len(lg.Of(spammer))
	if most := int((elapsed.Seconds()+1)*rate) / host.MaxLogLine; taken > most || taken == 0 {
		t.Fatalf("%d lines of %d bytes taken in %v at %d bytes a second, want 1..%d", taken, host.MaxLogLine, elapsed, rate, most)
	}
	notice := -1
	for i, l := range lg.Text() {
		if strings.Contains(l, "guest log line(s) dropped: over the node's log rate") {
			notice = i
		}
		if strings.Contains(l, "after the flood") {
			if notice < 0 {
				t.Fatalf("the first line after the flood came without the notice of the lines dropped: %q", lg.Text())
			}
			break
		}
	}
	for _, r := range []int{-1, 1000} {
		if _, err := host.New(ctx, host.NewConfig().WithLogRate(r)); err == nil || !strings.Contains(err.Error(), "log rate") {
			t.Errorf("log rate %d: %v, want refused", r, err)
		}
	}
}
