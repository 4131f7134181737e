package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/testmode"
)

// externalRows are the behaviour-table rows about external calls between
// guest modules; TestConformance runs them with the others.
var externalRows = []conformanceRow{
	{"3_external_helper_call_local_recursion", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("test2", wasm("test2_v1"))
		p := n.Spawn("test2", "loop", "")
		n.Expect(p, []string{"t", "t"}, "[loop v1 body] f() -> v1", "[loop v1 body] f() -> v1")
		n.Load("test2", wasm("test2_v2"))
		// The new f, the old loop body: the new line is never printed.
		n.Expect(p, []string{"t", "t", "t"}, "[loop v1 body] f() -> v2", "[loop v1 body] f() -> v2", "[loop v1 body] f() -> v2")
		if !n.Check(p, "test2") || n.SoftPurge("test2") {
			t.Fatal("want check_process_code true and soft_purge false")
		}
		if !n.Purge("test2") {
			t.Fatal("purge = false")
		}
		if e := n.Exit(p); e.Reason != host.Killed {
			t.Fatalf("exit %v, want killed", e)
		}
	}},
	{"13_external_call_of_removed_export_from_old_code", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("e_mod", wasm("e_mod_v1"))
		p := n.Spawn("e_mod", "linger", "")
		n.Expect(p, []string{"l", "e"}, "gone -> v1", "gone -> v1")
		n.Load("e_mod", wasm("e_mod_v2"))
		// Old code calling gone() locally still works...
		n.Expect(p, []string{"l"}, "gone -> v1")
		// ...but ?MODULE:gone() reaches v2, which lacks it: undef.
		n.Send(p, "e")
		if e := n.Exit(p); e.Reason != host.Undef || !errors.Is(e.Err, host.ErrUndef) {
			t.Fatalf("exit %v, want undef", e)
		}
	}},
	{"14_long_chain_reaches_new_version", func(t *testing.T, cfg host.Config) {
		// pc:run → x:work, which calls y:version() until it answers
		// something new: the process's life is one external call, and every
		// call inside it reaches the version current when it is made.
		n := newNode(t, cfg)
		n.Load("chain_y", chainY(t, 1))
		n.Load("chain_x", wasm("chain_x"))
		n.Load("chain_pc", wasm("chain_pc"))
		p := n.Spawn("chain_pc", "run", "")
		waitFor(t, func() bool { return lingering(n, "chain_x") == 1 })
		n.Load("chain_y", chainY(t, 2))
		if e := n.Exit(p); e.Reason != host.Normal {
			t.Fatalf("exit %v, want normal: the chain never reached chain_y's new version", e)
		}
		if got := n.Lines(p, 1); got[0] != "saw a new version" {
			t.Fatalf("log %q", got)
		}
	}},
	{"15_purge_during_long_chain_kills_exactly", func(t *testing.T, cfg host.Config) {
		// Two processes inside x:work (x v1 on their stacks), one that only
		// called y once and waits: a purge of old x kills the two and says
		// so, and check_process_code agreed beforehand.
		n := newNode(t, cfg)
		n.Load("chain_y", chainY(t, 1))
		n.Load("chain_x", wasm("chain_x"))
		n.Load("chain_pc", wasm("chain_pc"))
		a, b := n.Spawn("chain_pc", "run", ""), n.Spawn("chain_pc", "run", "")
		idle := n.Spawn("chain_pc", "once", "")
		waitFor(t, func() bool { return lingering(n, "chain_x") == 2 })
		waitFor(t, func() bool { pi, _ := n.H.Process(idle); return pi.Status == host.Suspended })
		n.Load("chain_x", wasm("chain_x")) // the same code as vsn 2: vsn 1 is old
		for _, p := range []host.PID{a, b} {
			if !n.Check(p, "chain_x") {
				t.Fatalf("check_process_code(%s, chain_x) = false for a process inside x:work", p)
			}
		}
		if n.Check(idle, "chain_x") {
			t.Fatal("check_process_code = true for a process that never called chain_x")
		}
		res, err := n.H.Purge(context.Background(), "chain_x")
		if err != nil {
			t.Fatal(err)
		}
		if res.Killed != 2 || !res.KilledAny() {
			t.Fatalf("purge result %+v, want 2 killed", res)
		}
		for _, p := range []host.PID{a, b} {
			if e := n.Exit(p); e.Reason != host.Killed {
				t.Fatalf("exit %v, want killed", e)
			}
		}
		if pi, _ := n.H.Process(idle); pi.Exit != nil {
			t.Fatalf("the idle process exited: %v", pi.Exit)
		}
	}},
	{"16_kill_inside_callee_instance", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("chain_y", chainY(t, 1))
		n.Load("chain_x", wasm("chain_x"))
		n.Load("chain_pc", wasm("chain_pc"))
		p := n.Spawn("chain_pc", "run", "")
		waitFor(t, func() bool { return lingering(n, "chain_x") == 1 })
		if err := n.H.Kill(p); err != nil {
			t.Fatal(err)
		}
		if e := n.Exit(p); e.Reason != host.Killed {
			t.Fatalf("exit %v, want killed", e)
		}
	}},
	{"17_returned_call_does_not_linger", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("chain_y", chainY(t, 1))
		n.Load("chain_x", wasm("chain_x"))
		n.Load("chain_pc", wasm("chain_pc"))
		p := n.Spawn("chain_pc", "once", "")
		waitFor(t, func() bool { pi, _ := n.H.Process(p); return pi.Status == host.Suspended })
		n.Load("chain_y", chainY(t, 2))
		if n.Check(p, "chain_y") || !n.SoftPurge("chain_y") {
			t.Fatal("a process that called old chain_y and returned lingers in it")
		}
		if pi, _ := n.H.Process(p); pi.Exit != nil {
			t.Fatalf("exited: %v", pi.Exit)
		}
	}},
	{"10_process_in_other_module_not_killed_by_purge", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("cb", wasm("cb_v1"))
		n.Load("gs", wasm("gs"))
		srv := n.Spawn("gs", "loop", "")
		n.Expect(srv, []string{"h"}, "cb says v1")
		n.Load("cb", wasm("cb_v2"))
		// It waits in gs's receive, not in cb: it does not linger in old cb.
		if n.Check(srv, "cb") {
			t.Fatal("check_process_code(gs server, cb) = true, want false")
		}
		if n.Purge("cb") {
			t.Fatal("purge(cb) = true: killed someone")
		}
		n.Expect(srv, []string{"h"}, "cb says v2")

		// With a call into old cb on its stack, it does linger, and dies.
		n.Send(srv, "z") // cb:slow sleeps a minute inside cb v2
		waitFor(t, func() bool { m, _ := n.H.Which("cb"); return m.Current.Lingering == 1 })
		n.Load("cb", wasm("cb_v1"))
		if !n.Check(srv, "cb") {
			t.Fatal("in cb:slow: check_process_code = false, want true")
		}
		if n.SoftPurge("cb") {
			t.Fatal("soft_purge(cb) = true while the server is in it")
		}
		if !n.Purge("cb") {
			t.Fatal("purge(cb) = false, want true")
		}
		if e := n.Exit(srv); e.Reason != host.Killed {
			t.Fatalf("exit %v, want killed", e)
		}
	}},
}

func TestExternalCallErrors(t *testing.T) {
	n := newNode(t, host.NewConfig())
	n.Load("cb", wasm("cb_v1"))
	n.Load("badcall", wasm("badcall"))
	n.Load("a", wasm("a_loop_v1"))
	bystander := n.Spawn("a", "run_local", "")
	for fn, want := range map[string]host.Reason{"wrong_type": host.BadArity, "missing": host.Undef} {
		p := n.Spawn("badcall", fn, "")
		if e := n.Exit(p); e.Reason != want {
			t.Errorf("%s: exit %v, want %s", fn, e, want)
		}
	}
	// From Go, the same calls fail with the same errors.
	if _, err := n.H.Call(ctx, "badcall", "wrong_type"); !errors.Is(err, host.ErrBadArity) {
		t.Errorf("Go call of wrong_type: %v", err)
	}
	if _, err := n.H.Call(ctx, "badcall", "missing"); !errors.Is(err, host.ErrUndef) {
		t.Errorf("Go call of missing: %v", err)
	}
	n.Expect(bystander, []string{"x"}, "v1 got x")
}

// chainY returns chain_y with version() answering 100000+n.
func chainY(t testing.TB, n int) []byte {
	t.Helper()
	b := append([]byte(nil), wasm("chain_y")...)
	i := bytes.Index(b, []byte{0x41, 0xa1, 0x8d, 0x06}) // i32.const 100001
	if i < 0 || n < 1 || n > 1<<20 {
		t.Fatalf("cannot make chain_y version %d", n)
	}
	v := uint32(100000 + n)
	b[i+1], b[i+2], b[i+3] = byte(v)|0x80, byte(v>>7)|0x80, byte(v>>14)
	return b
}

// lingering is the number of processes lingering in module's current
// version: running it, or with a call into it on their stack.
func lingering(n *node, module string) int {
	m, err := n.H.Which(module)
	if err != nil || m.Current == nil {
		return 0
	}
	return m.Current.Lingering
}

// TestChainHammer: Go calls call x → y in loops while y is reloaded 300
// times, each time with a higher version. No call fails, and every answer
// is from a version that was current during the call. The callers yield
// now and then: on two cores, four callers that never yield make each
// reload wait for the scheduler's time slices, which is a matter for the
// benchmarks (the reload storm), not for this check.
// TestChainHammer reloads chain_y 1,000 times (100 unless WASMHOT_LONG=1)
// while Go callers and
// processes call it through chain_x in tight loops that never yield: no
// call fails, every Go call answers a version that was current during the
// call, and no process ever sees an older version after a newer one (it
// would trap); in sandboxed mode no process is killed by a purge.
func TestChainHammer(t *testing.T) {
	reloads := testmode.Rounds(100, 1000)
	for _, mode := range []host.Mode{host.Sandboxed, host.Trusted} {
		t.Run(mode.String(), func(t *testing.T) {
			h := newHost(t, host.NewConfig().WithMode(mode).WithLog(nil))
			if _, err := h.Load(ctx, "chain_y", chainY(t, 1)); err != nil {
				t.Fatal(err)
			}
			mustLoad(t, h, "chain_x", "chain_x")
			var pids []host.PID
			for i := 0; i < 2; i++ {
				pid, err := h.Spawn(ctx, "chain_x", "watch", nil)
				if err != nil {
					t.Fatal(err)
				}
				pids = append(pids, pid)
			}
			var current atomic.Int64 // the version loaded last
			current.Store(100001)
			var stop atomic.Bool
			var calls atomic.Int64
			var wg sync.WaitGroup
			errc := make(chan error, 2)
			for g := 0; g < 2; g++ {
				f, _ := h.Func("chain_x", "probe")
				wg.Add(1)
				go func() {
					defer wg.Done()
					for !stop.Load() {
						before := current.Load()
						res, err := f.Call(ctx)
						after := current.Load()
						if err != nil {
							errc <- err
							return
						}
						calls.Add(1)
						// A version is current from its publish, just before
						// current says so: the next one may already answer.
						if v := int64(int32(res[0])); v < before || v > after+1 {
							errc <- fmt.Errorf("x:probe() = %d, while %d..%d were loaded", v, before, after)
							return
						}
					}
				}()
			}
			killed := 0
			for i := 2; i <= reloads+1; i++ {
				_, res, err := h.Reload(ctx, "chain_y", chainY(t, i))
				if err != nil {
					t.Fatal(err)
				}
				killed += res.Killed
				current.Store(int64(100000 + i))
			}
			stop.Store(true)
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Error(err)
			}
			// In sandboxed mode a purge settles each process at a safepoint
			// before it reads its depth in the old code, so a watcher that
			// was only passing through is never counted. In trusted mode a
			// watcher that the scheduler preempts inside a call of the old
			// version really has old code on its stack when the purge
			// looks, and is killed, as in Erlang.
			if mode == host.Sandboxed && killed != 0 {
				t.Errorf("purges killed %d processes; they never stay in chain_y", killed)
			}
			for _, pid := range pids {
				info, err := h.Process(pid)
				if err != nil {
					t.Fatal(err)
				}
				if mode == host.Sandboxed && info.Status == host.Exited {
					t.Errorf("watcher %s ended during the reloads", pid)
				}
				if err := h.Kill(pid); err != nil {
					t.Error(err)
				}
				// Never an older version after a newer one (it would trap).
				if exit, err := h.Wait(ctx, pid); err != nil || exit.Reason != host.Killed {
					t.Errorf("watcher %s: exit %v, %v; want killed", pid, exit, err)
				}
			}
			t.Logf("%d Go calls during %d reloads", calls.Load(), reloads)
		})
	}
}

func TestCodePath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cb.wasm"), wasm("cb_v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("interactive loads once under concurrent first use", func(t *testing.T) {
		n := newNode(t, host.NewConfig().WithCodePath(t.TempDir(), dir))
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				var err error
				if i%2 == 0 {
					_, err = n.H.Call(ctx, "cb", "handle", 0)
				} else {
					_, err = n.H.Spawn(ctx, "cb", "nothere", nil) // loads, then undef
					if errors.Is(err, host.ErrUndef) {
						err = nil
					}
				}
				errs <- err
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		m, err := n.H.Which("cb")
		if err != nil || m.Current.Vsn != 1 || m.Old != nil {
			t.Fatalf("which cb: %+v, %v (want exactly one load)", m, err)
		}
		// A guest's import triggers the load too.
		n.Load("gs", wasm("gs"))
		if _, err := n.H.Delete(ctx, "cb"); err != nil {
			t.Fatal(err)
		}
		if _, err := n.H.Purge(ctx, "cb"); err != nil {
			t.Fatal(err)
		}
		p := n.Spawn("gs", "loop", "")
		n.Expect(p, []string{"h"}, "cb says v1")
		if m, _ := n.H.Which("cb"); m.Current == nil || m.Current.Vsn != 2 {
			t.Fatalf("cb after reload from the code path: %+v", m.Current)
		}
	})
	t.Run("embedded mode does not load", func(t *testing.T) {
		h := newHost(t, host.NewConfig().WithCodePath(dir).WithInteractive(false).WithLog(nil))
		if _, err := h.Call(context.Background(), "cb", "handle", 0); !errors.Is(err, host.ErrUndef) {
			t.Fatalf("call: %v, want undef", err)
		}
		if _, err := h.Which("cb"); !errors.Is(err, host.ErrNotLoaded) {
			t.Fatalf("which: %v, want not loaded", err)
		}
	})
}
