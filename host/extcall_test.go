package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wasmhot/wasmhot/host"
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
	{"9_external_call_of_removed_export_from_old_code", func(t *testing.T, cfg host.Config) {
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

// TestAtomicPairHammer: g_a and g_b call each other while both are
// reloaded together 500 times. Every call chain sees one consistent pair.
func TestAtomicPairHammer(t *testing.T) {
	h := newHost(t, host.NewConfig().WithLog(nil))
	load := func(v int) {
		t.Helper()
		err := h.AtomicLoad(ctx,
			host.Source{Name: "g_a", Wasm: wasm(fmt.Sprintf("g_a_v%d", v))},
			host.Source{Name: "g_b", Wasm: wasm(fmt.Sprintf("g_b_v%d", v))})
		if err != nil {
			t.Fatal(err)
		}
	}
	load(1)
	var stop atomic.Bool
	var calls atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for g := 0; g < 4; g++ {
		mod := []string{"g_a", "g_b"}[g%2]
		f, _ := h.Func(mod, "pair")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				if i%16 == 0 {
					runtime.Gosched() // let the reloader in (see TestHammerReload)
				}
				res, err := f.Call(ctx)
				if err != nil {
					errc <- err
					return
				}
				calls.Add(1)
				if v := res[0]; v/10 != v%10 {
					errc <- fmt.Errorf("%s:pair() = %d: versions %d and %d seen in one chain", mod, v, v/10, v%10)
					return
				}
			}
		}()
	}
	for i := 0; i < 500; i++ {
		for _, m := range []string{"g_a", "g_b"} {
			if _, err := h.Purge(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		load(1 + (i+1)%2)
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	t.Logf("%d calls during 500 atomic reloads", calls.Load())
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
