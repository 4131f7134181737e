package host_test

import (
	"github.com/wasmhot/wasmhot/internal/wasmbin"

	"context"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/hosttest"
)

func TestLimits(t *testing.T) {
	t.Run("fuel stops a spinning process", func(t *testing.T) {
		n := newNode(t, host.NewConfig().WithFuel(1_000_000))
		n.Load("probe", wasm("probe"))
		n.Load("a", wasm("a_loop_v1"))
		// A process that waits for messages is fine: waiting uses no fuel,
		// and each receive refills the budget.
		idle := n.Spawn("a", "run", "")
		time.Sleep(100 * time.Millisecond)
		n.Expect(idle, []string{"x"}, "v1 got x")
		spinner := n.Spawn("probe", "spin", "")
		if e := n.Exit(spinner); e.Reason != host.Limit {
			t.Fatalf("spinner exit %v, want limit", e)
		}
		n.Expect(idle, []string{"y"}, "v1 got y")
	})
	t.Run("fuel needs sandboxed mode", func(t *testing.T) {
		_, err := host.New(context.Background(), host.NewConfig().WithMode(host.Trusted).WithFuel(1000))
		if err == nil {
			t.Fatal("trusted mode with a fuel budget accepted")
		}
	})
	t.Run("purge kills a spinning process in sandboxed mode", func(t *testing.T) {
		n := newNode(t, host.NewConfig())
		n.Load("probe", wasm("probe"))
		spinner := n.Spawn("probe", "spin", "")
		waitFor(t, func() bool { m, _ := n.H.Which("probe"); return m.Current.Lingering == 1 })
		n.Load("probe", wasm("probe"))
		if !n.Purge("probe") {
			t.Fatal("purge killed nobody")
		}
		if e := n.Exit(spinner); e.Reason != host.Killed {
			t.Fatalf("exit %v, want killed", e)
		}
	})
	t.Run("call timeout stops a spinning Go call", func(t *testing.T) {
		h := newHost(t, host.NewConfig().WithCallTimeout(50*time.Millisecond).WithLog(nil))
		mustLoad(t, h, "counter", "counter_v1")
		if _, err := h.Call(context.Background(), "counter", "spin", 1<<62); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("spin: %v, want deadline exceeded", err)
		}
		if v := call1(t, h, "counter", "version"); v != 1 {
			t.Fatalf("version after timeout: %d", v)
		}
	})
	t.Run("memory.grow past the limit returns -1", func(t *testing.T) {
		n := newNode(t, host.NewConfig().WithMemoryLimitPages(4))
		n.Load("probe", wasm("probe"))
		p := n.Spawn("probe", "grow", "")
		if got := n.Lines(p, 1); got[0] != "r=-1" {
			t.Fatalf("grow: %q", got)
		}
		n.Load("counter", wasm("counter_v1"))
		if _, err := n.H.CallBytes(context.Background(), "counter", "echo", make([]byte, 1<<20)); !errors.Is(err, host.ErrBadResult) {
			t.Fatalf("echo of 1 MiB with 4 pages: %v, want bad result", err)
		}
	})
	t.Run("module limits", func(t *testing.T) {
		h := newHost(t, host.NewConfig().WithMaxModules(1).WithMaxModuleSize(1000).WithLog(nil))
		if _, err := h.Load(context.Background(), "counter", wasm("probe")); !errors.Is(err, host.ErrTooLarge) {
			t.Errorf("large module: %v, want too large", err)
		}
		mustLoad(t, h, "counter", "counter_v1")
		if _, err := h.Load(context.Background(), "other", wasm("counter_v1")); !errors.Is(err, host.ErrTooMany) {
			t.Errorf("second module: %v, want too many", err)
		}
	})
}

func TestHostileModules(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		wasm []byte
		cfg  host.Config
		also error // a cause the error also matches
	}{
		"huge declared memory":        {wasm("huge_memory"), host.NewConfig(), nil},
		"start function never ends":   {wasm("start_forever"), host.NewConfig().WithStartTimeout(100 * time.Millisecond), context.DeadlineExceeded},
		"start function traps":        {wasm("start_trap"), host.NewConfig(), host.ErrTrap},
		"thousands of functions, bad": {manyFuncs(5000, true), host.NewConfig(), nil},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHost(t, tc.cfg.WithLog(nil))
			mustLoad(t, h, "counter", "counter_v1")
			before := snap(h)
			_, err := h.Load(ctx, "evil", tc.wasm)
			if !errors.Is(err, host.ErrBadModule) {
				t.Fatalf("load: %v, want bad module", err)
			}
			if tc.also != nil && !errors.Is(err, tc.also) {
				t.Fatalf("load: %v, want it to match %v too", err, tc.also)
			}
			if after := snap(h); !reflect.DeepEqual(before, after) {
				t.Fatalf("code table changed: %v -> %v", before, after)
			}
		})
	}
	t.Run("thousands of functions load and run", func(t *testing.T) {
		h := newHost(t, host.NewConfig().WithLog(nil))
		if _, err := h.Load(ctx, "many", manyFuncs(5000, false)); err != nil {
			t.Fatal(err)
		}
		if v := call1(t, h, "many", "f4999"); v != 4999 {
			t.Fatalf("f4999() = %d", v)
		}
	})
}

// manyFuncs builds a module with n functions () -> i32, each returning its
// index and exported as f<i>; broken makes the last body invalid.
func manyFuncs(n int, broken bool) []byte {
	u, sec := wasmbin.AppendU32, wasmbin.AppendSection
	out := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	out = sec(out, 1, []byte{1, 0x60, 0, 1, 0x7f})
	var fs, ex, code []byte
	fs = u(fs, uint32(n))
	ex = u(ex, uint32(n))
	code = u(code, uint32(n))
	for i := 0; i < n; i++ {
		fs = append(fs, 0)
		name := []byte("f" + itoa(i))
		ex = append(u(ex, uint32(len(name))), name...)
		ex = u(append(ex, 0), uint32(i))
		body := []byte{0, 0x41}
		body = wasmbin.AppendS64(body, int64(int32(i)))
		body = append(body, 0x0b)
		if broken && i == n-1 {
			body = []byte{0, 0x6a, 0x0b} // i32.add on an empty stack
		}
		code = append(u(code, uint32(len(body))), body...)
	}
	out = sec(out, 3, fs)
	out = sec(out, 7, ex)
	return sec(out, 10, code)
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// FuzzLoad: arbitrary bytes as a module never panic, never half-load, and
// never disturb what was loaded. A start function is stopped after 50 ms
// and every call after 200 ms, so that one execution ends well within a
// second on a loaded machine.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"counter_v1", "a_loop_v1", "probe", "gs", "bad_import", "start_trap"} {
		b := wasm(name)
		f.Add(b)
		f.Add(b[:len(b)/2])
		m := append([]byte(nil), b...)
		m[len(m)/3] ^= 0xff
		f.Add(m)
	}
	f.Add([]byte{})
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	ctx := context.Background()
	h, err := host.New(ctx, host.NewConfig().WithStartTimeout(50*time.Millisecond).WithCallTimeout(200*time.Millisecond).WithLog(nil))
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close(ctx)
	if _, err := h.Load(ctx, "counter", wasm("counter_v1")); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		before := snap(h)["counter"]
		_, _, err := h.Reload(ctx, "fuzz", b)
		if err != nil && !errors.Is(err, host.ErrBadModule) {
			t.Fatalf("load error not bad module: %v", err)
		}
		if after := snap(h)["counter"]; after != before {
			t.Fatalf("counter changed: %v -> %v", before, after)
		}
		if res, err := h.Call(ctx, "counter", "version"); err != nil || res[0] != 1 {
			t.Fatalf("counter:version after fuzz load: %v %v", res, err)
		}
	})
}

// FuzzABI: a guest passes fuzzed pointers, lengths, pids and names to every
// import of the ABI. Whatever it passes, only that process may end, with a
// documented reason, and the node and its other processes go on.
func FuzzABI(f *testing.F) {
	for which := uint32(0); which < 10; which++ {
		f.Add(which, int32(32), int32(1), int32(40), int32(3), int32(0), int32(0), int32(0), int32(0))
		f.Add(which, int32(-1), int32(-1), int32(0x7fffffff), int32(5), int32(65535), int32(100), int32(0), int32(16))
		f.Add(which, int32(65530), int32(100), int32(2048), int32(36), int32(70000), int32(-5), int32(1024), int32(1000))
	}
	ctx := context.Background()
	lg := &hosttest.Log{}
	// The fuel budget bounds an execution whose continue() names an export
	// that loops: it ends with limit in a few milliseconds. Start functions
	// and calls are bounded too, so that one execution ends well within a
	// second on a loaded machine.
	h, err := host.New(ctx, host.NewConfig().WithLog(lg).WithMaxProcesses(1000).WithFuel(10_000_000).
		WithStartTimeout(50*time.Millisecond).WithCallTimeout(200*time.Millisecond))
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close(ctx)
	for _, m := range [][2]string{{"probe", "probe"}, {"a", "a_loop_v1"}, {"counter", "counter_v1"}} {
		if _, err := h.Load(ctx, m[0], wasm(m[1])); err != nil {
			f.Fatal(err)
		}
	}
	bystander, err := h.Spawn(ctx, "a", "run_local", nil)
	if err != nil {
		f.Fatal(err)
	}
	allowed := map[host.Reason]bool{host.Normal: true, host.BadArg: true, host.Limit: true, host.Undef: true, host.BadArity: true, host.Trap: true, host.Killed: true}
	f.Fuzz(func(t *testing.T, which uint32, a, b, c, d, e, g, i, j int32) {
		state := make([]byte, 36)
		for k, v := range []uint32{which, uint32(a), uint32(b), uint32(c), uint32(d), uint32(e), uint32(g), uint32(i), uint32(j)} {
			binary.LittleEndian.PutUint32(state[4*k:], v)
		}
		before := snap(h)
		pid, err := h.Spawn(ctx, "probe", "abi", state)
		if err != nil {
			if errors.Is(err, host.ErrLimit) {
				t.Skip("process limit reached by processes the fuzzed guest spawned")
			}
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		exit, err := h.Wait(wctx, pid)
		cancel()
		if err != nil {
			// continue() may have named an export that loops; that is the
			// guest's business. It must still be killable.
			_ = h.Kill(pid)
			if exit, err = h.Wait(ctx, pid); err != nil || exit.Reason != host.Killed {
				t.Fatalf("kill after timeout: %v %v", exit, err)
			}
		}
		if !allowed[exit.Reason] {
			t.Fatalf("exit %v", exit)
		}
		if exit.Reason == host.Trap && (which%10) != 5 {
			// Only a continue to some export can run into other code that traps.
			t.Fatalf("trap from a host call: %v", exit)
		}
		if after := snap(h); !reflect.DeepEqual(before, after) {
			t.Fatalf("code table changed: %v -> %v", before, after)
		}
		if pi, _ := h.Process(bystander); pi.Exit != nil {
			t.Fatalf("bystander died: %v", pi.Exit)
		}
	})
}
