package host_test

import (
	"context"
	"errors"
	"testing"

	"github.com/wasmhot/wasmhot/host"
)

// TestRollback: the old version comes back as current and the current one
// becomes old, both keeping their vsns; without old code, or on a sticky
// module, nothing changes.
func TestRollback(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []host.Mode{host.Sandboxed, host.Trusted} {
		t.Run(mode.String(), func(t *testing.T) {
			h := newHost(t, host.NewConfig().WithMode(mode).WithLog(nil))
			if _, err := h.Load(ctx, "counter", counterVsn(t, 1)); err != nil {
				t.Fatal(err)
			}
			if _, err := h.Load(ctx, "counter", counterVsn(t, 2)); err != nil {
				t.Fatal(err)
			}
			vi, err := h.Rollback(ctx, "counter")
			if err != nil {
				t.Fatal(err)
			}
			if vi.Vsn != 1 {
				t.Fatalf("rollback made vsn %d current, want 1", vi.Vsn)
			}
			if v := call1(t, h, "counter", "version"); v != 1 {
				t.Fatalf("version() after rollback = %d, want 1", v)
			}
			m, _ := h.Which("counter")
			if m.Current.Vsn != 1 || m.Old == nil || m.Old.Vsn != 2 {
				t.Fatalf("which after rollback: current %+v old %+v", m.Current, m.Old)
			}
			if _, err := h.Rollback(ctx, "counter"); err != nil {
				t.Fatal(err)
			}
			if v := call1(t, h, "counter", "version"); v != 2 {
				t.Fatalf("version() after the second rollback = %d, want 2", v)
			}
			if n := h.Stats().Rollbacks; n != 2 {
				t.Fatalf("Stats().Rollbacks = %d, want 2", n)
			}

			// Sticky: refused, nothing changes.
			if err := h.SetSticky("counter", true); err != nil {
				t.Fatal(err)
			}
			if _, err := h.Rollback(ctx, "counter"); !errors.Is(err, host.ErrSticky) {
				t.Fatalf("rollback of a sticky module: %v, want sticky", err)
			}
			if v := call1(t, h, "counter", "version"); v != 2 {
				t.Fatalf("version() after a refused rollback = %d, want 2", v)
			}
			if err := h.SetSticky("counter", false); err != nil {
				t.Fatal(err)
			}

			// No old code once purged.
			if _, err := h.Purge(ctx, "counter"); err != nil {
				t.Fatal(err)
			}
			if _, err := h.Rollback(ctx, "counter"); !errors.Is(err, host.ErrNoOld) {
				t.Fatalf("rollback without old code: %v, want no old", err)
			}
			if v := call1(t, h, "counter", "version"); v != 2 {
				t.Fatalf("version() after a refused rollback = %d, want 2", v)
			}

			// After a delete, the deleted version comes back.
			if ok, err := h.Delete(ctx, "counter"); !ok || err != nil {
				t.Fatalf("delete: %v %v", ok, err)
			}
			if _, err := h.Call(ctx, "counter", "version"); !errors.Is(err, host.ErrUndef) {
				t.Fatalf("call after delete: %v, want undef", err)
			}
			if vi, err := h.Rollback(ctx, "counter"); err != nil || vi.Vsn != 2 {
				t.Fatalf("rollback after delete: %+v %v", vi, err)
			}
			if v := call1(t, h, "counter", "version"); v != 2 {
				t.Fatalf("version() after undoing the delete = %d, want 2", v)
			}
			if m, _ := h.Which("counter"); m.Old != nil {
				t.Fatalf("old code after undoing a delete: %+v", m.Old)
			}

			if _, err := h.Rollback(ctx, "nosuch"); !errors.Is(err, host.ErrNoOld) {
				t.Fatalf("rollback of an unknown module: %v, want no old", err)
			}
			if _, err := h.Rollback(ctx, "Bad-Name"); !errors.Is(err, host.ErrBadName) {
				t.Fatalf("rollback of a bad name: %v, want bad name", err)
			}
		})
	}
}

// TestRollbackMovesLingering: a process in the version a load made old is
// no longer lingering once a rollback makes that version current: a purge
// then kills nobody. The next load makes its version old again, and the
// purge after it kills the process.
func TestRollbackMovesLingering(t *testing.T) {
	n := newNode(t, host.NewConfig())
	n.Load("test", wasm("test_v1"))
	pid := n.Spawn("test", "run", "3600000") // sleeps an hour in vsn 1
	n.Lines(pid, 1)
	n.Load("test", wasm("test_v1")) // vsn 2; the process lingers in vsn 1
	if !n.Check(pid, "test") {
		t.Fatal("the process does not linger in old code after a load")
	}
	if _, err := n.H.Rollback(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	if n.Check(pid, "test") {
		t.Fatal("the process still lingers after its version became current again")
	}
	if killed := n.Purge("test"); killed {
		t.Fatal("a purge after the rollback killed a process in current code")
	}
	if pi, err := n.H.Process(pid); err != nil || pi.Vsn != 1 {
		t.Fatalf("process after the purge: %+v %v", pi, err)
	}
	n.Load("test", wasm("test_v1")) // vsn 3; vsn 1 is old again
	if killed := n.Purge("test"); !killed {
		t.Fatal("the purge after the next load did not kill the process lingering in vsn 1")
	}
	if e := n.Exit(pid); e.Reason != host.Killed {
		t.Fatalf("exit %v, want killed", e)
	}
}
