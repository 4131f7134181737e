package host_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/hosttest"
)

// TestCallError: every call failure is a *host.CallError naming what was
// called, with the reason of a process's exit, and errors.Is still matches
// the sentinels; a failure deep in a chain of external calls is the
// innermost CallError.
func TestCallError(t *testing.T) {
	for _, mode := range []host.Mode{host.Sandboxed, host.Trusted} {
		t.Run(mode.String(), func(t *testing.T) {
			h := newHost(t, host.NewConfig().WithMode(mode).WithLog(nil))
			mustLoad(t, h, "chain_x", "chain_x")
			mustLoad(t, h, "probe", "probe")

			_, err := h.Call(ctx, "probe", "nope")
			var ce *host.CallError
			if !errors.As(err, &ce) || ce.Module != "probe" || ce.Function != "nope" || ce.Vsn != 0 || ce.Reason != host.Undef || !errors.Is(err, host.ErrUndef) {
				t.Fatalf("undef: %#v (%v)", ce, err)
			}

			_, err = h.Call(ctx, "probe", "trap")
			if !errors.As(err, &ce) || ce.Module != "probe" || ce.Function != "trap" || ce.Vsn != 1 || ce.Reason != host.Trap || !errors.Is(err, host.ErrTrap) {
				t.Fatalf("trap: %#v (%v)", ce, err)
			}

			// chain_x:probe calls chain_y:version, which is not loaded.
			_, err = h.Call(ctx, "chain_x", "probe")
			if !errors.As(err, &ce) || ce.Module != "chain_x" || ce.Function != "probe" || ce.Vsn != 1 || ce.Reason != host.Undef {
				t.Fatalf("outer: %#v (%v)", ce, err)
			}
			in := host.Innermost(err)
			if in == nil || in.Module != "chain_y" || in.Function != "version" || in.Reason != host.Undef || !errors.Is(err, host.ErrUndef) {
				t.Fatalf("innermost: %#v (%v)", in, err)
			}

			// A process that makes the same call exits undef, with the
			// same error.
			pid, err := h.Spawn(ctx, "chain_x", "watch", nil)
			if err != nil {
				t.Fatal(err)
			}
			exit, err := h.Wait(ctx, pid)
			if err != nil || exit.Reason != host.Undef {
				t.Fatalf("process exit %v, %v", exit, err)
			}
			if in := host.Innermost(exit.Err); in == nil || in.Module != "chain_y" || in.Function != "version" {
				t.Fatalf("process exit error %v: innermost %#v", exit.Err, in)
			}
		})
	}
}

// TestSelfRecursion: a module that calls its own import of itself without
// end fails the call with limit and the host goes on. Sandboxed: the calls
// stay in Wasm, through the link table, until the frame bound (MaxFrames)
// ends them, long before wazero's 400 MB stack would. Trusted: each call
// nests Go frames through the host, until maxHostNesting ends it, well
// before the Go stack would overflow (which would end the Go program).
func TestSelfRecursion(t *testing.T) {
	for _, tc := range []struct {
		mode host.Mode
		want error
	}{{host.Sandboxed, host.ErrLimit}, {host.Trusted, host.ErrLimit}} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			h := newHost(t, host.NewConfig().WithMode(tc.mode).WithLog(nil))
			mustLoad(t, h, "selfrec", "selfrec")
			mustLoad(t, h, "probe", "probe")
			if _, err := h.Call(ctx, "selfrec", "f", 0); !errors.Is(err, tc.want) {
				t.Fatalf("selfrec:f(0): %v, want %v", err, tc.want)
			}
			if res, err := h.Call(ctx, "probe", "hello", 7); err != nil || res[0] != 7 {
				t.Fatalf("the host after the recursion: probe:hello(7) = %v, %v", res, err)
			}
		})
	}
}

// TestFrameBound: a guest recursing in its own code without end (no host
// calls) fails with limit in sandboxed mode, and the host goes on;
// recursion within the bound works.
func TestFrameBound(t *testing.T) {
	ctx := context.Background()
	n := hosttest.NewNode(t, host.NewConfig())
	n.Load("frames", wasm("frames"))
	if got := call1(t, n.H, "frames", "by_return", host.MaxFrames-10); got != host.MaxFrames-10 {
		t.Fatalf("by_return(%d) = %d", host.MaxFrames-10, got)
	}
	_, err := n.H.Call(ctx, "frames", "by_brif", host.MaxFrames+10)
	if !errors.Is(err, host.ErrLimit) || !strings.Contains(err.Error(), "frames") {
		t.Fatalf("by_brif(%d): %v, want limit (frames)", host.MaxFrames+10, err)
	}
	if got := call1(t, n.H, "frames", "by_end", 100); got != 100 {
		t.Fatalf("after the limit: by_end(100) = %d", got)
	}
}
