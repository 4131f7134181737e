package host_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/host"
)

func TestReceiveSemantics(t *testing.T) {
	n := newNode(t, host.NewConfig())
	n.Load("probe", wasm("probe"))
	n.Load("a", wasm("a_loop_v1"))

	t.Run("message larger than the buffer stays first", func(t *testing.T) {
		pid := n.Spawn("probe", "receive_small", "")
		n.Send(pid, "hello world")
		// The probe exits after its second receive, which may come before
		// "second" is sent: then it found the large message first anyway.
		if err := n.H.Send(pid, []byte("second")); err != nil && !errors.Is(err, host.ErrNoProcess) {
			t.Fatalf("send second: %v", err)
		}
		if got := n.Lines(pid, 2); got[0] != "r=11" || got[1] != "hello world" {
			t.Fatalf("got %q", got)
		}
		if e := n.Exit(pid); e.Reason != host.Normal {
			t.Fatalf("exit %v", e)
		}
	})
	t.Run("poll on an empty mailbox", func(t *testing.T) {
		pid := n.Spawn("probe", "poll", "")
		if got := n.Lines(pid, 1); got[0] != "r=-1" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		pid := n.Spawn("probe", "timeout20", "")
		if got := n.Lines(pid, 1); got[0] != "r=-1" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("send to self", func(t *testing.T) {
		pid := n.Spawn("probe", "self_send", "")
		if got := n.Lines(pid, 2); got[0] != "r=0" || got[1] != "hello" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("spawn and send from a guest", func(t *testing.T) {
		pid := n.Spawn("probe", "spawn_send", "")
		want := []string{"r=1", "r=0", "r=-1", "r=-3", "r=-3", "r=-1", "r=-3"}
		if got := n.Lines(pid, len(want)); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("got %q, want %q", got, want)
		}
		// The spawned a:run process got "hello".
		waitFor(t, func() bool {
			for _, l := range n.Log.Text() {
				if l == "v1 got hello" {
					return true
				}
			}
			return false
		})
	})
	t.Run("state round trip", func(t *testing.T) {
		pid := n.Spawn("probe", "state_roundtrip", "initial")
		if got := n.Lines(pid, 2); got[0] != "initial" || got[1] != "hello" {
			t.Fatalf("got %q", got)
		}
	})
}

func TestExitReasons(t *testing.T) {
	for _, tc := range []struct {
		fn   string
		want host.Reason
	}{
		{"wild_log", host.BadArg},
		{"negative_len", host.BadArg},
		{"wild_receive", host.BadArg},
		{"wild_state", host.BadArg},
		{"continue_missing", host.Undef},
		{"continue_bad_type", host.BadArity},
		{"trap", host.Trap},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			n := newNode(t, host.NewConfig())
			n.Load("probe", wasm("probe"))
			n.Load("a", wasm("a_loop_v1"))
			bystander := n.Spawn("a", "run_local", "")
			pid := n.Spawn("probe", tc.fn, "")
			e := n.Exit(pid)
			if e.Reason != tc.want {
				t.Fatalf("exit %v, want %s", e, tc.want)
			}
			if tc.want != host.Normal && e.Err == nil {
				t.Errorf("exit %s carries no error", e.Reason)
			}
			n.Expect(bystander, []string{"still there"}, "v1 got still there")
		})
	}
	t.Run("spawn errors from Go", func(t *testing.T) {
		n := newNode(t, host.NewConfig())
		n.Load("probe", wasm("probe"))
		ctx := context.Background()
		if _, err := n.H.Spawn(ctx, "probe", "nope", nil); !errors.Is(err, host.ErrUndef) {
			t.Errorf("spawn of missing fn: %v", err)
		}
		if _, err := n.H.Spawn(ctx, "probe", "hello", nil); !errors.Is(err, host.ErrBadArity) {
			t.Errorf("spawn of (i32)->i32: %v", err)
		}
		if _, err := n.H.Spawn(ctx, "Probe", "poll", nil); !errors.Is(err, host.ErrBadName) {
			t.Errorf("spawn with bad name: %v", err)
		}
	})
	t.Run("process limit", func(t *testing.T) {
		n := newNode(t, host.NewConfig().WithMaxProcesses(2))
		n.Load("a", wasm("a_loop_v1"))
		n.Spawn("a", "run_local", "")
		n.Spawn("a", "run_local", "")
		if _, err := n.H.Spawn(context.Background(), "a", "run_local", nil); !errors.Is(err, host.ErrLimit) {
			t.Fatalf("third spawn: %v, want limit", err)
		}
	})
	t.Run("mailbox full", func(t *testing.T) {
		n := newNode(t, host.NewConfig().WithMailboxLimit(2))
		n.Load("test", wasm("test_v1"))
		pid := n.Spawn("test", "run", "3600000") // sleeps an hour, never receives
		n.Send(pid, "one", "two")
		if err := n.H.Send(pid, []byte("three")); !errors.Is(err, host.ErrMailboxFull) {
			t.Fatalf("third send: %v, want mailbox full", err)
		}
		if pi, _ := n.H.Process(pid); pi.MailboxLen != 2 {
			t.Fatalf("mailbox length %d, want 2", pi.MailboxLen)
		}
	})
	t.Run("kill wakes a sleeping process", func(t *testing.T) {
		n := newNode(t, host.NewConfig())
		n.Load("test", wasm("test_v1"))
		pid := n.Spawn("test", "run", "3600000")
		n.Lines(pid, 1)
		waitFor(t, func() bool { pi, _ := n.H.Process(pid); return pi.Status == host.Suspended })
		if err := n.H.Kill(pid); err != nil {
			t.Fatal(err)
		}
		if e := n.Exit(pid); e.Reason != host.Killed {
			t.Fatalf("exit %v", e)
		}
		if err := n.H.Send(pid, []byte("x")); !errors.Is(err, host.ErrNoProcess) {
			t.Fatalf("send to exited: %v, want no process", err)
		}
	})
}

// TestMessagesAcrossUpgrades: 10,000 messages to a process that is upgraded
// 100 times while it receives them: every message arrives, in order.
func TestMessagesAcrossUpgrades(t *testing.T) {
	const rounds, perRound = 100, 100
	n := newNode(t, host.NewConfig())
	n.Load("a", wasm("a_loop_v1"))
	pid := n.Spawn("a", "run", "")
	sent := 0
	for r := 0; r < rounds; r++ {
		// The previous load's old code is free once the process took a
		// message after it; then the next load is allowed.
		waitFor(t, func() bool { return n.SoftPurge("a") })
		if _, err := n.H.Load(context.Background(), "a", wasm(fmt.Sprintf("a_loop_v%d", 1+(r+1)%2))); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		for i := 0; i < perRound; i++ {
			n.Send(pid, strconv.Itoa(sent))
			sent++
		}
	}
	got := n.Lines(pid, sent)
	upgrades := 0
	for i, l := range got {
		var v, seq int
		if _, err := fmt.Sscanf(l, "v%d got %d", &v, &seq); err != nil || seq != i {
			t.Fatalf("line %d: %q, want message %d", i, l, i)
		}
		if i > 0 && !strings.HasPrefix(got[i-1], fmt.Sprintf("v%d ", v)) {
			upgrades++
		}
	}
	if upgrades < rounds-1 {
		t.Errorf("process changed version %d times, want >= %d", upgrades, rounds-1)
	}
	if pi, _ := n.H.Process(pid); pi.MailboxLen != 0 || pi.Exit != nil {
		t.Errorf("process after: %+v", pi)
	}
}

// TestPurgeThousandProcesses: 1,000 processes lingering in old code are all
// killed by one purge, and their goroutines are gone.
func TestPurgeThousandProcesses(t *testing.T) {
	ctx := context.Background()
	before := runtime.NumGoroutine()
	func() {
		n := newNode(t, host.NewConfig())
		n.Load("a", wasm("a_loop_v1"))
		pids := make([]host.PID, 1000)
		for i := range pids {
			pids[i] = n.Spawn("a", "run_local", "")
		}
		if got := n.H.PIDs(); !sameSet(got, pids) {
			t.Fatalf("PIDs: %d pids, not the %d spawned", len(got), len(pids))
		}
		n.Load("a", wasm("a_loop_v2"))
		res, err := n.H.Purge(ctx, "a")
		if err != nil || res.Killed != 1000 {
			t.Fatalf("purge: %+v, %v", res, err)
		}
		for _, pid := range pids {
			if e := n.Exit(pid); e.Reason != host.Killed {
				t.Fatalf("%s: exit %v", pid, e)
			}
		}
		for _, pi := range n.H.Processes() {
			if pi.Exit == nil {
				t.Fatalf("still running: %+v", pi)
			}
		}
		if err := n.H.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}()
	var after int
	deadline := time.Now().Add(10 * time.Second)
	for {
		after = runtime.NumGoroutine()
		if after <= before || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if after > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines: %d before, %d after\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// sameSet says whether a and b hold the same pids, in any order.
func sameSet(a, b []host.PID) bool {
	in := make(map[host.PID]bool, len(a))
	for _, p := range a {
		in[p] = true
	}
	if len(in) != len(a) || len(a) != len(b) {
		return false
	}
	for _, p := range b {
		if !in[p] {
			return false
		}
	}
	return true
}

// TestMailboxBytes: a mailbox refuses messages past its byte bound with
// ErrMailboxFull and keeps what it has; the process and the node go on.
func TestMailboxBytes(t *testing.T) {
	n := newNode(t, host.NewConfig().WithMailboxBytes(1<<20).WithMaxMessageSize(128<<10))
	n.Load("test", wasm("test_v1"))
	pid := n.Spawn("test", "run", "100000") // logs a line, then sleeps 100 s
	n.Lines(pid, 1)
	msg := make([]byte, 128<<10)
	sent := 0
	for range 100 {
		err := n.H.Send(pid, msg)
		if errors.Is(err, host.ErrMailboxFull) {
			break
		}
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		sent++
	}
	if sent != 8 {
		t.Fatalf("%d messages of 128 KiB taken under a 1 MiB bound, want 8", sent)
	}
	if err := n.H.Send(pid, []byte("small")); !errors.Is(err, host.ErrMailboxFull) {
		t.Fatalf("a small message into the full mailbox: %v, want full", err)
	}
	if pi, err := n.H.Process(pid); err != nil || pi.MailboxLen != 8 || pi.Exit != nil {
		t.Fatalf("process %+v, %v: want alive with 8 messages", pi, err)
	}
	if err := n.H.Kill(pid); err != nil {
		t.Fatal(err)
	}
}
