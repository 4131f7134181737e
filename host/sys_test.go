package host_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/modules"
)

// sysWasm is sys_vN tagged with vsn tag.
func sysWasm(t testing.TB, v int, tag string) []byte {
	t.Helper()
	b, err := modules.AppendVsnSection(wasm(fmt.Sprintf("sys_v%d", v)), tag)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mailbox waits until pid has n messages queued.
func mailbox(t testing.TB, n *node, pid host.PID, want int) {
	t.Helper()
	waitFor(t, func() bool {
		pi, err := n.H.Process(pid)
		return err == nil && pi.MailboxLen == want && pi.Status == host.Suspended
	})
}

func vsnOf(t testing.TB, n *node, pid host.PID) uint64 {
	t.Helper()
	pi, err := n.H.Process(pid)
	if err != nil {
		t.Fatal(err)
	}
	return pi.Vsn
}

// sysRows are the rows of host-driven code change (Erlang's sys:suspend,
// sys:change_code, sys:resume on a gen_server; SCENARIOS.md f).
var sysRows = []conformanceRow{
	{"18_suspend_change_code_resume_keeps_messages", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("sys", sysWasm(t, 1, "1.0"))
		srv := n.Spawn("sys", "run", "")
		n.Expect(srv, []string{"incr", "get"}, "v1 count=1")
		// Not suspended: change_code is refused ({unknown_system_msg, ...}).
		if err := n.H.ChangeCode(ctx, srv, nil); !errors.Is(err, host.ErrNotSuspended) {
			t.Fatalf("ChangeCode of a running process: %v, want ErrNotSuspended", err)
		}
		if err := n.H.Suspend(srv); err != nil {
			t.Fatal(err)
		}
		msgs := []string{"m1", "m2", "incr", "m3", "get"}
		n.Send(srv, msgs...)
		mailbox(t, n, srv, len(msgs)) // stopped at its receive, all kept
		before := len(n.Log.Of(srv))
		n.Load("sys", sysWasm(t, 2, "2.0"))
		if err := n.H.ChangeCode(ctx, srv, []byte("my_extra")); err != nil {
			t.Fatalf("ChangeCode: %v", err)
		}
		if got := n.Lines(srv, before+1)[before:]; !reflect.DeepEqual(got, []string{"v2 code_change from=1.0 extra=my_extra"}) {
			t.Fatalf("code_change logged %q", got)
		}
		if v := vsnOf(t, n, srv); v != 2 {
			t.Fatalf("after ChangeCode: vsn %d, want 2", v)
		}
		mailbox(t, n, srv, len(msgs)) // still suspended: nothing taken
		if n.Check(srv, "sys") {
			t.Error("after ChangeCode: check_process_code = true")
		}
		if !n.SoftPurge("sys") {
			t.Error("after ChangeCode: soft_purge = false")
		}
		if err := n.H.Resume(srv); err != nil {
			t.Fatal(err)
		}
		// In order, by v2, on the state code_change made (1 + 100).
		got := n.Lines(srv, before+5)[before+1:]
		want := []string{"v2 got m1", "v2 got m2", "v2 got m3", "v2 count=103"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after resume: %q, want %q", got, want)
		}
		n.Send(srv, "stop")
		if e := n.Exit(srv); e.Reason != host.Normal {
			t.Errorf("exit %v, want normal", e)
		}
	}},
	{"19_refused_code_change_keeps_old_version_and_state", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("sys", sysWasm(t, 1, "1.0"))
		srv := n.Spawn("sys", "run", "")
		n.Expect(srv, []string{"incr", "incr", "get"}, "v1 count=2")
		if err := n.H.Suspend(srv); err != nil {
			t.Fatal(err)
		}
		n.Load("sys", sysWasm(t, 2, "2.0"))
		err := n.H.ChangeCode(ctx, srv, []byte("refuse"))
		if !errors.Is(err, host.ErrRefused) || !strings.Contains(err.Error(), "refused by v2") {
			t.Fatalf("refusing code_change: %v, want ErrRefused with the reason", err)
		}
		// A trap in code_change (after it set a bogus state) is refused too.
		err = n.H.ChangeCode(ctx, srv, []byte("crash"))
		if !errors.Is(err, host.ErrRefused) || !strings.Contains(err.Error(), "trap") {
			t.Fatalf("trapping code_change: %v, want ErrRefused naming the trap", err)
		}
		if got := n.Lines(srv, 3)[1:]; !reflect.DeepEqual(got, []string{"v2 code_change from=1.0 extra=refuse", "v2 code_change from=1.0 extra=crash"}) {
			t.Fatalf("code_change logged %q", got)
		}
		if v := vsnOf(t, n, srv); v != 1 {
			t.Fatalf("after refusals: vsn %d, want 1", v)
		}
		if !n.Check(srv, "sys") {
			t.Error("after refusals: check_process_code = false, want true (still in v1)")
		}
		if err := n.H.Resume(srv); err != nil {
			t.Fatal(err)
		}
		n.Expect(srv, []string{"incr", "get"}, "v1 count=3") // old code, old state
		// Then an accepted change moves it, state transformed.
		if err := n.H.Suspend(srv); err != nil {
			t.Fatal(err)
		}
		if err := n.H.ChangeCode(ctx, srv, []byte("ok")); err != nil {
			t.Fatal(err)
		}
		if got := n.Lines(srv, 5)[4]; got != "v2 code_change from=1.0 extra=ok" {
			t.Fatalf("code_change logged %q", got)
		}
		if err := n.H.Resume(srv); err != nil {
			t.Fatal(err)
		}
		n.Expect(srv, []string{"incr", "get"}, "v2 count=105")
	}},
	{"20_vsn_tags_across_reloads_of_identical_bytes", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		b := sysWasm(t, 1, "1.0")
		for i := 1; i <= 3; i++ {
			vi, _, err := n.H.Reload(ctx, "sys", b)
			if err != nil {
				t.Fatal(err)
			}
			if vi.Vsn != uint64(i) || vi.VsnTag != "1.0" {
				t.Fatalf("load %d of the same bytes: vsn %d tag %q, want %d and 1.0", i, vi.Vsn, vi.VsnTag, i)
			}
		}
		// code_change sees the tag, not the counter.
		srv := n.Spawn("sys", "run", "")
		n.Expect(srv, []string{"get"}, "v1 count=0")
		if err := n.H.Suspend(srv); err != nil {
			t.Fatal(err)
		}
		if _, _, err := n.H.Reload(ctx, "sys", sysWasm(t, 2, "2.0")); err != nil {
			t.Fatal(err)
		}
		if err := n.H.ChangeCode(ctx, srv, nil); err != nil {
			t.Fatal(err)
		}
		if got := n.Lines(srv, 2)[1]; got != "v2 code_change from=1.0 extra=" {
			t.Errorf("code_change logged %q", got)
		}
	}},
}

// TestCodeChangeV2AtContinue: at the upgrade at the external tail call, a
// code_change of ABI v2 runs with an empty extra; when it refuses, the
// process goes on in its old version with its old state.
func TestCodeChangeV2AtContinue(t *testing.T) {
	for _, mode := range []host.Mode{host.Sandboxed, host.Trusted} {
		t.Run(mode.String(), func(t *testing.T) {
			n := newNode(t, host.NewConfig().WithMode(mode))
			n.Load("sys", sysWasm(t, 1, "1.0"))
			srv := n.Spawn("sys", "run", "")
			msgs := make([]string, 13)
			for i := range msgs {
				msgs[i] = "incr"
			}
			n.Expect(srv, append(msgs, "get"), "v1 count=13")
			n.Load("sys", sysWasm(t, 2, "2.0"))
			// count 13: v2's code_change refuses; v1 goes on.
			n.Expect(srv, []string{"next", "get"}, "v2 code_change from=1.0 extra=", "host: code_change refused: refused by v2", "v1 count=13")
			if !n.Check(srv, "sys") {
				t.Error("after a refused upgrade: check_process_code = false")
			}
			n.Expect(srv, []string{"incr", "next", "get"}, "v2 code_change from=1.0 extra=", "v2 count=114")
			if n.Check(srv, "sys") {
				t.Error("after the upgrade: check_process_code = true")
			}
		})
	}
}

// TestChangeCodeErrors: the failures of Suspend, ChangeCode and Resume
// change nothing.
func TestChangeCodeErrors(t *testing.T) {
	n := newNode(t, host.NewConfig())
	n.Load("sys", sysWasm(t, 1, "1.0"))
	srv := n.Spawn("sys", "run", "")
	if err := n.H.Suspend(srv); err != nil {
		t.Fatal(err)
	}
	// Suspending twice is fine; a change with nothing new does nothing.
	if err := n.H.Suspend(srv); err != nil {
		t.Fatal(err)
	}
	if err := n.H.ChangeCode(ctx, srv, nil); err != nil {
		t.Fatalf("ChangeCode to the version it runs: %v", err)
	}
	big := make([]byte, host.DefaultMaxMessageSize+1)
	if err := n.H.ChangeCode(ctx, srv, big); !errors.Is(err, host.ErrLimit) {
		t.Errorf("extra over the limit: %v", err)
	}
	// The current version lacks the function the process runs: undef.
	n.Load("sys", wasm("counter_v1"))
	if err := n.H.ChangeCode(ctx, srv, nil); !errors.Is(err, host.ErrUndef) {
		t.Errorf("no run in the current version: %v, want ErrUndef", err)
	}
	if err := n.H.Resume(srv); err != nil {
		t.Fatal(err)
	}
	n.Expect(srv, []string{"incr", "get"}, "v1 count=1")
	// A process whose version has no code_change of ABI v2.
	n2 := newNode(t, host.NewConfig())
	n2.Load("a", wasm("a_loop_v1"))
	p := n2.Spawn("a", "run", "")
	_ = n2.H.Suspend(p)
	n2.Load("a", wasm("a_loop_v2"))
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := n2.H.ChangeCode(c, p, nil); !errors.Is(err, host.ErrNoCodeChange) {
		t.Errorf("v1 guest: %v, want ErrNoCodeChange", err)
	}
	// Exited and unknown processes.
	n.Send(srv, "stop")
	n.Exit(srv)
	for name, err := range map[string]error{"suspend": n.H.Suspend(srv), "resume": n.H.Resume(srv), "change": n.H.ChangeCode(ctx, srv, nil)} {
		if !errors.Is(err, host.ErrNoProcess) {
			t.Errorf("%s of an exited process: %v", name, err)
		}
	}
}

// TestSuspendedKill: a kill ends a suspended process (killed), and a
// ChangeCode waiting for a process that never reaches a receive gives up
// with its context, changing nothing.
func TestSuspendedKill(t *testing.T) {
	n := newNode(t, host.NewConfig())
	n.Load("sys", sysWasm(t, 1, "1.0"))
	srv := n.Spawn("sys", "run", "")
	if err := n.H.Suspend(srv); err != nil {
		t.Fatal(err)
	}
	n.Send(srv, "incr", "get")
	mailbox(t, n, srv, 2)
	if pi, _ := n.H.Process(srv); !pi.SysSuspended {
		t.Error("ProcessInfo.SysSuspended = false")
	}
	if err := n.H.Kill(srv); err != nil {
		t.Fatal(err)
	}
	if e := n.Exit(srv); e.Reason != host.Killed {
		t.Errorf("exit %v, want killed", e)
	}
	// spinner's run spins in cpu:spin and never receives.
	n.Load("cpu", wasm("cpu"))
	n.Load("spinner", wasm("spinner"))
	sp, err := n.H.Spawn(ctx, "spinner", "run", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.H.Suspend(sp); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := n.H.ChangeCode(c, sp, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ChangeCode of a process that never receives: %v, want the context's deadline", err)
	}
	_ = n.H.Kill(sp)
}
