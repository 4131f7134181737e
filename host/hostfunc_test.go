package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmhot/wasmhot/host"
)

var errNope = errors.New("nope")

// hostFnEnv is the host side of guest-examples/wat/hostfn.wat: the
// functions of its import module "env", recording who called them.
type hostFnEnv struct {
	mu  sync.Mutex
	who []string // module vsn pid, as wait saw them

	entered chan host.PID // wait's callers, as they block
}

func newHostFnEnv() *hostFnEnv { return &hostFnEnv{entered: make(chan host.PID, 64)} }

// funcs returns the functions of "env"; upper is the typed form unless
// upper is given.
func (e *hostFnEnv) funcs(upper ...host.HostFunc) []host.HostFunc {
	fns := []host.HostFunc{
		host.NewHostFunc("add", func(a, b int32) int32 { return a + b }),
		host.NewHostFunc("scale", func(n int64, f float32, d float64) float64 { return float64(n) * float64(f) * d }),
		host.NewHostFunc("upper", func(s string) []byte { return bytes.ToUpper([]byte(s)) }),
		host.NewHostFunc("wait", func(ctx context.Context, c host.Caller) (int32, error) {
			pid, ok := c.PID()
			e.mu.Lock()
			e.who = append(e.who, fmt.Sprintf("%s %d %v", c.Module(), c.Vsn(), ok))
			e.mu.Unlock()
			if !ok {
				return 7, nil // a Go call does not block
			}
			e.entered <- pid
			<-ctx.Done() // until the process is killed
			return 0, ctx.Err()
		}).WithBlocking(true),
		host.NewHostFunc("fail", func(c host.Caller, code int32) error {
			switch code {
			case 1:
				return fmt.Errorf("code 1: %w", errNope)
			case 2:
				panic("code 2")
			case 3:
				return fmt.Errorf("code 3: %w", host.ErrLimit)
			case 4:
				_, err := c.Read(math.MaxUint32-1, 8)
				return err
			}
			return nil
		}),
	}
	if len(upper) > 0 {
		fns[2] = upper[0]
	}
	return fns
}

func hostFnConfig(mode host.Mode, e *hostFnEnv, upper ...host.HostFunc) host.Config {
	return host.NewConfig().WithMode(mode).WithLog(nil).WithHostFunctions("env", e.funcs(upper...)...)
}

// TestHostFuncRoundTrip: numbers of every type and bytes go from the guest
// to Go and back, in a Go call, with each way of writing a host function.
func TestHostFuncRoundTrip(t *testing.T) {
	forModes(t, func(t *testing.T, mode host.Mode) {
		ctx := context.Background()
		e := newHostFnEnv()
		h := newHost(t, hostFnConfig(mode, e))
		mustLoad(t, h, "hf", "hostfn")

		if got := int32(call1(t, h, "hf", "sum", api.EncodeI32(-5), api.EncodeI32(12))); got != 7 {
			t.Errorf("sum(-5, 12) = %d", got)
		}
		if got := api.DecodeF64(call1(t, h, "hf", "scaled", 1<<40, api.EncodeF32(0.5), api.EncodeF64(-3))); got != -3*(1<<39) {
			t.Errorf("scaled = %v, want %v", got, -3*float64(1<<39))
		}
		out, err := h.CallBytes(ctx, "hf", "shout", []byte("hello, host"))
		if err != nil || string(out) != "HELLO, HOST" {
			t.Fatalf("shout: %q, %v", out, err)
		}
		// The empty result needs no alloc.
		if out, err := h.CallBytes(ctx, "hf", "shout", nil); err != nil || len(out) != 0 {
			t.Fatalf("shout(nil): %q, %v", out, err)
		}
		// A Go call's Caller has no process, but knows the module.
		if got := call1(t, h, "hf", "wait"); got != 7 {
			t.Errorf("wait in a Go call = %d", got)
		}
		if len(e.who) != 1 || e.who[0] != "hf 1 false" {
			t.Errorf("the host function saw %q, want [hf 1 false]", e.who)
		}

		// The same bytes function on the Wasm stack, and in the direct
		// bytes form.
		stack := host.NewHostFuncStack("upper", []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64},
			func(ctx context.Context, c host.Caller, stack []uint64) error {
				in, err := c.Read(api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
				if err != nil {
					return err
				}
				stack[0], err = c.WriteBytes(append([]byte("stack:"), bytes.ToUpper(in)...))
				return err
			})
		direct := host.NewHostFunc("upper", func(ctx context.Context, c host.Caller, in []byte) ([]byte, error) {
			return append([]byte(c.Module()+":"), bytes.ToUpper(in)...), nil
		})
		for _, tc := range []struct {
			f    host.HostFunc
			want string
		}{{stack, "stack:ABC"}, {direct, "hf:ABC"}} {
			h := newHost(t, hostFnConfig(mode, e, tc.f))
			mustLoad(t, h, "hf", "hostfn")
			if out, err := h.CallBytes(ctx, "hf", "shout", []byte("abc")); err != nil || string(out) != tc.want {
				t.Errorf("shout: %q, %v; want %q", out, err, tc.want)
			}
		}
	})
}

// lineWriter hands each log line to a channel.
type lineWriter chan string

func (l lineWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSuffix(string(p), "\n"), "\n") {
		l <- line
	}
	return len(p), nil
}

// TestHostFuncProcess: a process calls a host function with a message's
// bytes and gets bytes back through its alloc.
func TestHostFuncProcess(t *testing.T) {
	forModes(t, func(t *testing.T, mode host.Mode) {
		ctx := context.Background()
		logs := make(lineWriter, 16)
		h := newHost(t, hostFnConfig(mode, newHostFnEnv()).WithLog(logs))
		mustLoad(t, h, "hf", "hostfn")
		pid, err := h.Spawn(ctx, "hf", "echo", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Send(pid, []byte("hot code")); err != nil {
			t.Fatal(err)
		}
		if ex, err := h.Wait(ctx, pid); err != nil || ex.Reason != host.Normal {
			t.Fatalf("exit %v, %v", ex, err)
		}
		if want := fmt.Sprintf("hf v1 %s: HOT CODE", pid); <-logs != want {
			t.Errorf("log line: want %q", want)
		}
	})
}

// TestHostFuncErrors: an error or a panic of a host function ends the
// guest call, with a reason, and the node goes on.
func TestHostFuncErrors(t *testing.T) {
	forModes(t, func(t *testing.T, mode host.Mode) {
		ctx := context.Background()
		logs := make(lineWriter, 64)
		h := newHost(t, hostFnConfig(mode, newHostFnEnv()).WithLog(logs))
		mustLoad(t, h, "hf", "hostfn")

		// Go calls.
		for _, tc := range []struct {
			code   int32
			reason host.Reason
			is     error
			text   string
		}{
			{1, host.Trap, errNope, "env.fail: code 1: nope"},
			{2, host.Trap, host.ErrTrap, "env.fail: panic: code 2"},
			{3, host.Limit, host.ErrLimit, "env.fail: code 3"},
			{4, host.Trap, host.ErrTrap, "outside the guest's memory"},
		} {
			_, err := h.Call(ctx, "hf", "fail_with", api.EncodeI32(tc.code))
			var ce *host.CallError
			if !errors.As(err, &ce) || ce.Reason != tc.reason || !errors.Is(err, host.ErrHostFunc) || !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("fail_with(%d): %v; want a %s CallError wrapping ErrHostFunc and %v, saying %q", tc.code, err, tc.reason, tc.is, tc.text)
			}
		}
		if got := call1(t, h, "hf", "sum", 1, 2); got != 3 {
			t.Fatalf("after the failures: sum = %d", got)
		}
		// The panic was logged (lines reach the writer from a goroutine of
		// their own).
		for found := false; !found; {
			select {
			case l := <-logs:
				found = strings.Contains(l, "hf v1 -: host function env.fail: panic: code 2 at ")
				if found && (!strings.Contains(l, "hostfunc_test.go:") || strings.Contains(l, "\n")) {
					t.Errorf("the panic's log line does not say where it happened, on one line: %q", l)
				}
				if found {
					t.Log(l)
				}
			case <-time.After(time.Minute): // a deadlock guard, not a timing
				t.Fatal("the panic was not logged")
			}
		}

		// A pointer outside the guest's memory, in a typed parameter.
		if _, err := h.Call(ctx, "hf", "shout_bad"); !errors.Is(err, host.ErrHostFunc) || !strings.Contains(err.Error(), "outside the guest's memory") {
			t.Errorf("shout_bad: %v", err)
		}

		// Processes: run_fail calls fail with the length of its message.
		for _, tc := range []struct {
			msg    string
			reason host.Reason
		}{{"x", host.Trap}, {"xx", host.Trap}, {"xxx", host.Limit}, {"xxxx", host.BadArg}} {
			pid, err := h.Spawn(ctx, "hf", "run_fail", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Send(pid, []byte(tc.msg)); err != nil {
				t.Fatal(err)
			}
			ex, err := h.Wait(ctx, pid)
			if err != nil || ex.Reason != tc.reason || !errors.Is(ex.Err, host.ErrHostFunc) {
				t.Errorf("fail(%d) in a process: exit %v, %v; want %s wrapping ErrHostFunc", len(tc.msg), ex, err, tc.reason)
			}
		}
		if got := call1(t, h, "hf", "sum", 1, 2); got != 3 {
			t.Fatalf("after the failures: sum = %d", got)
		}
	})
}

// TestHostFuncAllocInsideAlloc: a guest whose alloc calls a host function
// that returns bytes is refused that call (alloc cannot run inside
// itself); nothing crashes.
func TestHostFuncAllocInsideAlloc(t *testing.T) {
	forModes(t, func(t *testing.T, mode host.Mode) {
		ctx := context.Background()
		h := newHost(t, hostFnConfig(mode, newHostFnEnv()))
		mustLoad(t, h, "hf", "hostfn")
		_, err := h.CallBytes(ctx, "hf", "shout_evil", []byte("abc"))
		if !errors.Is(err, host.ErrHostFunc) || !errors.Is(err, host.ErrBadResult) || !strings.Contains(err.Error(), "alloc called a host function") {
			t.Fatalf("shout_evil: %v", err)
		}
		if out, err := h.CallBytes(ctx, "hf", "shout", []byte("abc")); err != nil || string(out) != "ABC" {
			t.Fatalf("shout after: %q, %v", out, err)
		}
	})
}

// TestHostFuncBlocking: processes blocked in a blocking host function give
// up their CPU tokens (more of them block than there are tokens, and the
// node still runs processes), show as suspended, and a kill or a purge
// ends the function's ctx.
func TestHostFuncBlocking(t *testing.T) {
	forModes(t, func(t *testing.T, mode host.Mode) {
		ctx := context.Background()
		e := newHostFnEnv()
		logs := make(lineWriter, 16)
		h := newHost(t, hostFnConfig(mode, e).WithLog(logs))
		vi := mustLoad(t, h, "hf", "hostfn")
		n := runtime.GOMAXPROCS(0) + 2
		pids := map[host.PID]bool{}
		for range n {
			pid, err := h.Spawn(ctx, "hf", "run", nil)
			if err != nil {
				t.Fatal(err)
			}
			pids[pid] = true
		}
		for range n {
			select {
			case pid := <-e.entered:
				if !pids[pid] {
					t.Fatalf("the host function saw pid %s, not one spawned", pid)
				}
			case <-time.After(time.Minute): // a deadlock guard, not a timing
				t.Fatalf("only some of %d processes reached the blocking host function: they hold the CPU tokens", n)
			}
		}
		// One more process runs to its end while they all block.
		echo, err := h.Spawn(ctx, "hf", "echo", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = h.Send(echo, []byte("still running"))
		if l := <-logs; !strings.HasSuffix(l, ": STILL RUNNING") {
			t.Fatalf("log %q", l)
		}
		// It ends after its log line; the purge below must not find it.
		if ex, err := h.Wait(ctx, echo); err != nil || ex.Reason != host.Normal {
			t.Fatalf("echo: exit %v, %v", ex, err)
		}
		for _, pi := range h.Processes() {
			if pids[pi.PID] && pi.Status != host.Suspended {
				t.Errorf("process %s blocked in a host function: status %s", pi.PID, pi.Status)
			}
		}
		e.mu.Lock()
		for _, w := range e.who {
			if w != fmt.Sprintf("hf %d true", vi.Vsn) {
				t.Errorf("the host function saw its caller as %q", w)
			}
		}
		e.mu.Unlock()

		// A kill ends one: its ctx is done, the process exits killed.
		var first host.PID
		for pid := range pids {
			first = pid
			break
		}
		if err := h.Kill(first); err != nil {
			t.Fatal(err)
		}
		if ex, _ := h.Wait(ctx, first); ex.Reason != host.Killed {
			t.Fatalf("killed in a host function: exit %v", ex)
		}
		// A purge of their version kills the others.
		mustLoad(t, h, "hf", "hostfn")
		pr, err := h.Purge(ctx, "hf")
		if err != nil || pr.Killed != n-1 {
			t.Fatalf("purge: %+v, %v; want %d killed", pr, err, n-1)
		}
		for pid := range pids {
			if ex, _ := h.Wait(ctx, pid); ex.Reason != host.Killed {
				t.Errorf("%s: exit %v", pid, ex)
			}
		}
	})
}

// TestHostFuncLoadRefused: an import the host functions cannot satisfy
// fails the load with a clear error, and a guest module cannot take the
// name of a module of host functions.
func TestHostFuncLoadRefused(t *testing.T) {
	forModes(t, func(t *testing.T, mode host.Mode) {
		ctx := context.Background()
		e := newHostFnEnv()
		all := e.funcs()
		for _, tc := range []struct {
			name string
			fns  []host.HostFunc
			file string
			want string
		}{
			{"missing", all[1:], "hostfn", `the host has no function "add" in its module "env" (it has: fail, scale, upper, wait)`},
			{"type", append([]host.HostFunc{host.NewHostFunc("add", func(a, b int64) int64 { return a + b })}, all[1:]...), "hostfn",
				"host function env.add has type (i64,i64)->(i64)"},
			{"noalloc", all, "hostfn_noalloc", "host function env.upper returns bytes through the guest's alloc, and the module exports no alloc"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h := newHost(t, host.NewConfig().WithMode(mode).WithHostFunctions("env", tc.fns...))
				_, err := h.Load(ctx, "hf", wasm(tc.file))
				if !errors.Is(err, host.ErrBadModule) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("load: %v\nwant ErrBadModule saying %q", err, tc.want)
				}
				if len(h.Modules()) != 0 {
					t.Fatalf("a refused load left %v", h.Modules())
				}
			})
		}
		h := newHost(t, hostFnConfig(mode, e))
		_, err := h.Load(ctx, "env", wasm("counter_v1"))
		if !errors.Is(err, host.ErrBadName) || !strings.Contains(err.Error(), `"env" is the host's module of host functions`) {
			t.Fatalf("a guest module named env: %v", err)
		}
		// Nothing can call or spawn into it as a guest module either.
		if _, err := h.Call(ctx, "env", "add", 1, 2); !errors.Is(err, host.ErrUndef) {
			t.Fatalf("env:add from Go: %v", err)
		}
	})
}

// TestHostFuncConfig: what is wrong with host functions is reported by
// Validate and New, all of it, and a Config is not changed by the With
// methods of its copies.
func TestHostFuncConfig(t *testing.T) {
	ok := host.NewHostFunc("ok", func() {})
	for _, tc := range []struct {
		name   string
		module string
		fns    []host.HostFunc
		want   string
	}{
		{"abi", "wasmhot", []host.HostFunc{ok}, `host function module "wasmhot": the name is reserved`},
		{"wasi", "wasi_snapshot_preview1", []host.HostFunc{ok}, "the name is reserved"},
		{"prefix", "wasmhot:rt", []host.HostFunc{ok}, "the name is reserved"},
		{"empty module", "", []host.HostFunc{ok}, "want a UTF-8 name of 1 to 255 bytes"},
		{"bad utf8", "\xff", []host.HostFunc{ok}, "want a UTF-8 name"},
		{"twice", "env", []host.HostFunc{ok, ok}, `host function "ok" registered twice`},
		{"zero", "env", []host.HostFunc{{}}, "a HostFunc without a function"},
		{"empty name", "env", []host.HostFunc{host.NewHostFunc("", func() {})}, "host function name"},
		{"not a func", "env", []host.HostFunc{host.NewHostFunc("f", 42)}, `host function "f": int is not a function`},
		{"nil func", "env", []host.HostFunc{host.NewHostFunc("f", (func())(nil))}, "is not a function"},
		{"int", "env", []host.HostFunc{host.NewHostFunc("f", func(int) {})}, "parameter 1: int: int and uint differ in size"},
		{"variadic", "env", []host.HostFunc{host.NewHostFunc("f", func(...int32) {})}, "variadic"},
		{"ctx late", "env", []host.HostFunc{host.NewHostFunc("f", func(int32, context.Context) {})}, "context.Context comes first"},
		{"two bytes", "env", []host.HostFunc{host.NewHostFunc("f", func() ([]byte, int32) { return nil, 0 })}, "must be the only one"},
		{"struct", "env", []host.HostFunc{host.NewHostFunc("f", func(struct{}) {})}, "want int32, uint32"},
		{"stack nil", "env", []host.HostFunc{host.NewHostFuncStack("f", nil, nil, nil)}, "nil function"},
		{"stack type", "env", []host.HostFunc{host.NewHostFuncStack("f", []api.ValueType{api.ValueTypeExternref}, nil,
			func(context.Context, host.Caller, []uint64) error { return nil })}, "type externref"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := host.NewConfig().WithHostFunctions(tc.module, tc.fns...)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v\nwant %q", err, tc.want)
			}
			if _, err := host.New(context.Background(), cfg); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}

	base := host.NewConfig().WithHostFunctions("env", ok)
	a := base.WithHostFunctions("env", host.NewHostFunc("a", func() {}))
	b := base.WithHostFunctions("env", host.NewHostFunc("a", func(int32) {}))
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := a.WithHostFunctions("other").HostModules(); len(got) != 2 || got[0] != "env" || got[1] != "other" {
		t.Fatalf("HostModules: %q", got)
	}
	if err := base.Validate(); err != nil || len(base.HostModules()) != 1 {
		t.Fatalf("base changed: %v %q", err, base.HostModules())
	}
}

// BenchmarkHostFunc: a guest → host function call in each form, from a
// Go call (sum: add through reflection; shout: bytes through alloc).
func BenchmarkHostFunc(b *testing.B) {
	ctx := context.Background()
	stackAdd := host.NewHostFuncStack("add", []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32},
		func(_ context.Context, _ host.Caller, s []uint64) error {
			s[0] = api.EncodeI32(api.DecodeI32(s[0]) + api.DecodeI32(s[1]))
			return nil
		})
	for _, tc := range []struct {
		name string
		add  host.HostFunc
	}{{"typed", host.NewHostFunc("add", func(a, b int32) int32 { return a + b })}, {"stack", stackAdd}} {
		b.Run(tc.name, func(b *testing.B) {
			fns := newHostFnEnv().funcs()
			fns[0] = tc.add
			h := newHost(b, host.NewConfig().WithLog(nil).WithHostFunctions("env", fns...))
			mustLoad(b, h, "hf", "hostfn")
			f, _ := h.Func("hf", "sum")
			stack := make([]uint64, 2)
			b.ReportAllocs()
			for b.Loop() {
				stack[0], stack[1] = 1, 2
				if err := f.CallWithStack(ctx, stack); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestHostFuncInStart: a start function may call host functions, bytes
// out included (alloc runs while the instance is being made), and the
// Caller knows the module.
func TestHostFuncInStart(t *testing.T) {
	forModes(t, func(t *testing.T, mode host.Mode) {
		var seen []string
		get := host.NewHostFunc("get", func(c host.Caller, key string) string {
			_, isProc := c.PID()
			seen = append(seen, fmt.Sprintf("%s %s %v", c.Module(), key, isProc))
			return "value of " + key
		})
		h := newHost(t, host.NewConfig().WithMode(mode).WithHostFunctions("env", get))
		mustLoad(t, h, "st", "hostfn_start")
		out, err := h.CallBytes(context.Background(), "st", "value", nil)
		if err != nil || string(out) != "value of start" {
			t.Fatalf("value: %q, %v", out, err)
		}
		if len(seen) == 0 || seen[0] != "st start false" {
			t.Fatalf("the host function saw %q", seen)
		}
	})
}
