package host_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/testmode"
)

// TestCloseRaces: Load, Reload, Call, CallBytes, Spawn, Purge and Delete run
// concurrently with Close, many times over, at random moments of each
// other. Every operation returns a result or an error matching ErrClosed
// (or, for Load and Delete, the answers of a code table in use), never
// panics, and Close returns.
func TestCloseRaces(t *testing.T) {
	rounds := testmode.Rounds(40, 200)
	for _, mode := range []host.Mode{host.Sandboxed, host.Trusted} {
		t.Run(mode.String(), func(t *testing.T) {
			for round := range rounds {
				closeRace(t, mode, round)
				if t.Failed() {
					return
				}
			}
		})
	}
}

func closeRace(t *testing.T, mode host.Mode, round int) {
	ctx := context.Background()
	h, err := host.New(ctx, host.NewConfig().WithMode(mode).WithLog(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Load(ctx, "counter", wasm("counter_v1")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Load(ctx, "a", wasm("a_loop_v1")); err != nil {
		t.Fatal(err)
	}
	// ok reports whether err is an allowed answer of op; allowed lists the
	// errors, besides ErrClosed, that op may give on a code table in use.
	var mu sync.Mutex
	fail := func(op string, err error, allowed ...error) bool {
		if err == nil || errors.Is(err, host.ErrClosed) {
			return err != nil
		}
		for _, a := range allowed {
			if errors.Is(err, a) {
				return false
			}
		}
		mu.Lock()
		defer mu.Unlock()
		t.Errorf("round %d %s: %v, want a result or ErrClosed", round, op, err)
		return true
	}
	ops := map[string]func(i int) bool{
		"load": func(i int) bool {
			// Delete and purge run beside it: x may be gone again before
			// Load reads back what it loaded.
			_, err := h.Load(ctx, "x", counterVsn(t, uint32(i+1)))
			return fail("load", err, host.ErrNotPurged, host.ErrNotLoaded)
		},
		"reload": func(i int) bool {
			_, _, err := h.Reload(ctx, "counter", counterVsn(t, uint32(i+1)))
			return fail("reload", err)
		},
		"call": func(int) bool {
			_, err := h.Call(ctx, "counter", "version")
			return fail("call", err)
		},
		"bytes": func(int) bool {
			_, err := h.CallBytes(ctx, "counter", "echo", []byte("hello"))
			return fail("call bytes", err)
		},
		"spawn": func(int) bool {
			pid, err := h.Spawn(ctx, "a", "run_local", nil)
			if err == nil {
				_ = h.Send(pid, []byte("x"))
			}
			return fail("spawn", err)
		},
		"purge": func(int) bool {
			_, err := h.Purge(ctx, "x")
			return fail("purge", err)
		},
		"delete": func(int) bool {
			_, err := h.Delete(ctx, "x")
			return fail("delete", err)
		},
	}
	var wg sync.WaitGroup
	for name, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if op(i) {
					return
				}
				if h.Which("counter"); i > 100000 {
					t.Errorf("round %d %s: still running", round, name)
					return
				}
			}
		}()
	}
	time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
	closed := make(chan error, 1)
	go func() { closed <- h.Close(ctx) }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("round %d: Close: %v", round, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("round %d: Close did not return", round)
	}
	wg.Wait()
}
