package host_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/host"
)

// TestFuel covers the sandboxed mode's metering: what it counts, the
// budgets, and that it stops guests wherever they run.
func TestFuel(t *testing.T) {
	ctx := context.Background()
	t.Run("a process's fuel is the same on every run", func(t *testing.T) {
		var first int64
		for run := 0; run < 10; run++ {
			n := newNode(t, host.NewConfig())
			n.Load("cpu", wasm("cpu"))
			pid := n.Spawn("cpu", "work", "")
			if e := n.Exit(pid); e.Reason != host.Normal {
				t.Fatalf("run %d: exit %v", run, e)
			}
			pi, err := n.H.Process(pid)
			if err != nil {
				t.Fatal(err)
			}
			if run == 0 {
				first = pi.Fuel
				if first < 100_000*30 {
					t.Fatalf("work used %d fuel, want at least 30 per mix iteration", first)
				}
			} else if pi.Fuel != first {
				t.Fatalf("run %d used %d fuel, run 0 used %d", run, pi.Fuel, first)
			}
		}
	})
	t.Run("work done through external calls costs the same fuel as done locally", func(t *testing.T) {
		n := newNode(t, host.NewConfig())
		n.Load("cpu", wasm("cpu"))
		n.Load("cpu_ext", wasm("cpu_ext"))
		fuel := func(module string) int64 {
			pid := n.Spawn(module, "work", "")
			if e := n.Exit(pid); e.Reason != host.Normal {
				t.Fatalf("%s:work exit %v", module, e)
			}
			pi, err := n.H.Process(pid)
			if err != nil {
				t.Fatal(err)
			}
			return pi.Fuel
		}
		local, ext := fuel("cpu"), fuel("cpu_ext")
		if local != ext {
			t.Fatalf("cpu:work used %d fuel, cpu_ext:work (the same through external calls) %d", local, ext)
		}
	})
	t.Run("a Go call over its budget fails with limit", func(t *testing.T) {
		h := newHost(t, host.NewConfig().WithFuel(100_000).WithLog(nil))
		mustLoad(t, h, "cpu", "cpu")
		if v := call1(t, h, "cpu", "mix", 100); v == 0 {
			t.Fatal("mix(100) = 0")
		}
		for _, tt := range []struct {
			fn  string
			arg uint64
		}{{"mix", 1 << 40}, {"mix", 10_000}, {"fib", 30}} {
			if _, err := h.Call(ctx, "cpu", tt.fn, tt.arg); !errors.Is(err, host.ErrLimit) {
				t.Errorf("%s(%d): %v, want ErrLimit", tt.fn, tt.arg, err)
			}
		}
		// The budget is per call: the next call has all of it.
		if v := call1(t, h, "cpu", "fib", 10); v != 55 {
			t.Fatalf("fib(10) = %d", v)
		}
	})
	t.Run("a process over its budget exits with limit", func(t *testing.T) {
		n := newNode(t, host.NewConfig().WithFuel(1_000_000))
		n.Load("cpu", wasm("cpu"))
		// work uses about 3.5 million units between two receives.
		if e := n.Exit(n.Spawn("cpu", "work", "")); e.Reason != host.Limit || !errors.Is(e.Err, host.ErrLimit) {
			t.Fatalf("exit %v, want limit", e)
		}
	})
	t.Run("kill stops a process spinning in another module's code", func(t *testing.T) {
		n := newNode(t, host.NewConfig())
		n.Load("cpu", wasm("cpu"))
		n.Load("spinner", wasm("spinner"))
		pid := n.Spawn("spinner", "run", "")
		waitFor(t, func() bool { pi, _ := n.H.Process(pid); return pi.Fuel > 1_000_000 })
		if err := n.H.Kill(pid); err != nil {
			t.Fatal(err)
		}
		if e := n.Exit(pid); e.Reason != host.Killed {
			t.Fatalf("exit %v, want killed", e)
		}
	})
	t.Run("the garbage collector runs while guests spin", func(t *testing.T) {
		n := newNode(t, host.NewConfig())
		n.Load("cpu", wasm("cpu"))
		n.Load("spinner", wasm("spinner"))
		a, b := n.Spawn("cpu", "spin", ""), n.Spawn("spinner", "run", "")
		waitFor(t, func() bool {
			pa, _ := n.H.Process(a)
			pb, _ := n.H.Process(b)
			return pa.Fuel > 0 && pb.Fuel > 0
		})
		done := make(chan struct{})
		go func() {
			runtime.GC() // needs every goroutine at a safe point: the ticks give them
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("runtime.GC did not return while two guests spin")
		}
		n.H.Kill(a)
		n.H.Kill(b)
		if ea, eb := n.Exit(a), n.Exit(b); ea.Reason != host.Killed || eb.Reason != host.Killed {
			t.Fatalf("exits %v, %v, want killed", ea, eb)
		}
	})
	t.Run("a cancelled ctx stops a spinning Go call", func(t *testing.T) {
		h := newHost(t, host.NewConfig().WithLog(nil))
		mustLoad(t, h, "cpu", "cpu")
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(20*time.Millisecond, cancel)
		if _, err := h.Call(cctx, "cpu", "mix", 1<<62); !errors.Is(err, context.Canceled) {
			t.Fatalf("mix: %v, want context.Canceled", err)
		}
		if v := call1(t, h, "cpu", "add", 2, 3); v != 5 {
			t.Fatalf("add after a cancelled call: %d", v)
		}
	})
	t.Run("Close stops a spinning Go call", func(t *testing.T) {
		h, err := host.New(ctx, host.NewConfig().WithLog(nil))
		if err != nil {
			t.Fatal(err)
		}
		mustLoad(t, h, "cpu", "cpu")
		done := make(chan error, 1)
		go func() {
			_, err := h.Call(ctx, "cpu", "mix", 1<<62)
			done <- err
		}()
		waitFor(t, func() bool { m, _ := h.Which("cpu"); return m.Current.InFlight == 1 })
		if err := h.Close(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("the spinning call returned no error")
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the spinning call outlived Close")
		}
	})
	t.Run("reserved names are refused", func(t *testing.T) {
		for _, mode := range []host.Mode{host.Sandboxed, host.Trusted} {
			h := newHost(t, host.NewConfig().WithMode(mode).WithLog(nil))
			for _, file := range []string{"reserved_export", "reserved_import"} {
				if mode == host.Trusted && file == "reserved_export" {
					continue // trusted hosts do not rewrite: the name means nothing there
				}
				if _, err := h.Load(ctx, "r", wasm(file)); !errors.Is(err, host.ErrBadModule) {
					t.Errorf("%s: load %s: %v, want ErrBadModule", mode, file, err)
				}
			}
		}
	})
	t.Run("the injected counter is not an export", func(t *testing.T) {
		h := newHost(t, host.NewConfig().WithLog(nil))
		vi := mustLoad(t, h, "cpu", "cpu")
		for _, f := range vi.Exports {
			if f.Name == "wasmhot:fuel" || f.Name == "tick" {
				t.Fatalf("export %q visible", f.Name)
			}
		}
		if vi.Size != len(wasm("cpu")) {
			t.Fatalf("size %d, want the loaded bytes' %d", vi.Size, len(wasm("cpu")))
		}
	})
}
