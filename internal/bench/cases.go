package bench

// s of wasmhot's hot paths, each next to its raw wazero floor in
// the same `go test -bench` run, so that ratios are comparable on a noisy
// machine:
//
//	go test -run '^$' -bench . -benchtime 500ms -count 5 ./host/ | tee /tmp/bench.txt
//	benchstat /tmp/bench.txt
//
// Every benchmark has a sub-benchmark per host mode, /sandboxed (the
// default: guests metered with fuel) and /trusted, and both compare with
// the same floors: raw wazero without any interruption, which is what a
// program that trusts its guests would run. Rows named floor* use wazero
// directly, with the host's runtime and module settings (compiler engine,
// memory limit, anonymous instances seeded from crypto/rand) and host
// modules of their own. The guests are guest-examples/wat/bench_*.wat; the
// raw floors run the same bytes as the wasmhot rows wherever they can.
//
// Loop benchmarks (CallExt, LocalCall, HostCall) make one call of a guest
// export run(n = b.N), so ns/op is per inner operation.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasmhot/wasmhot/host"
)

var benchCtx = context.Background()

// benchMode is a host mode and its name in benchmark names.
type benchMode struct {
	name string
	mode host.Mode
}

var benchModes = []benchMode{
	{"sandboxed", host.Sandboxed},
	{"trusted", host.Trusted},
}

func benchHost(b *testing.B, m benchMode) *host.Host {
	b.Helper()
	return newHost(b, host.NewConfig().WithMode(m.mode).WithLog(nil))
}

func benchFunc(b *testing.B, h *host.Host, module, function string) *host.Func {
	b.Helper()
	f, err := h.Func(module, function)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// caller is a function called from Go: a *host.Func or a raw
// api.Function.
type caller interface {
	Call(ctx context.Context, params ...uint64) ([]uint64, error)
}

// stackCaller is the same, called on a stack.
type stackCaller interface {
	CallWithStack(ctx context.Context, stack []uint64) error
}

// benchLoop makes one call f(b.N) of a loop export, timed, after a warm-up
// call f(1) that fills the instance and function caches.
func benchLoop(b *testing.B, f caller) uint64 {
	b.Helper()
	if _, err := f.Call(benchCtx, 1); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	res, err := f.Call(benchCtx, uint64(b.N))
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	return res[0]
}

// countLoop is benchLoop of a loop that counts its iterations: its answer
// must be b.N (in 32 bits).
func countLoop(b *testing.B, f caller, name string) {
	b.Helper()
	if got := benchLoop(b, f); uint32(got) != uint32(b.N) {
		b.Fatalf("%s(%d) = %d", name, b.N, uint32(got))
	}
}

// abHost is a host of the mode with bench_b loaded as b and bench_a, which
// calls it, as a.
func abHost(b *testing.B, m benchMode) *host.Host {
	b.Helper()
	h := benchHost(b, m)
	mustLoad(b, h, "b", "bench_b")
	mustLoad(b, h, "a", "bench_a")
	return h
}

// timeProcess times a process from the message start to its normal exit.
func timeProcess(b *testing.B, h *host.Host, pid host.PID, start []byte) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	if err := h.Send(pid, start); err != nil {
		b.Fatal(err)
	}
	exit, err := h.Wait(benchCtx, pid)
	b.StopTimer()
	if err != nil || exit.Reason != host.Normal {
		b.Fatalf("process exit %v, %v", exit, err)
	}
}

// rawRuntime returns a wazero runtime set up as host.New sets up its own,
// without interruption: the floor every mode is compared with.
func rawRuntime(b *testing.B) wazero.Runtime {
	return rawRuntimeWith(b, wazero.NewRuntimeConfigCompiler())
}

func rawRuntimeWith(b *testing.B, cfg wazero.RuntimeConfig) wazero.Runtime {
	b.Helper()
	r := wazero.NewRuntimeWithConfig(benchCtx, cfg.WithMemoryLimitPages(host.DefaultMemoryLimitPages))
	b.Cleanup(func() { _ = r.Close(benchCtx) })
	return r
}

// rawModConfig is the module config wasmhot instantiates versions with.
func rawModConfig() wazero.ModuleConfig {
	return wazero.NewModuleConfig().WithName("").WithStartFunctions().WithRandSource(rand.Reader)
}

func rawInstantiate(b *testing.B, ctx context.Context, r wazero.Runtime, file string) api.Module {
	b.Helper()
	cm, err := r.CompileModule(benchCtx, wasm(file))
	if err != nil {
		b.Fatal(err)
	}
	mod, err := r.InstantiateModule(ctx, cm, rawModConfig())
	if err != nil {
		b.Fatal(err)
	}
	return mod
}

func rawExport(b *testing.B, mod api.Module, name string) api.Function {
	b.Helper()
	f := mod.ExportedFunction(name)
	if f == nil {
		b.Fatalf("no export %q", name)
	}
	return f
}

// rawProc is a raw floor's stand-in for a process: its pid, state and
// mailbox, found by the raw host functions through the call's ctx.
type rawProc struct {
	handle int64
	state  []byte
	in     chan []byte
	net    []chan []byte // mailboxes by handle
}

type rawProcKey struct{}

func rawProcOf(ctx context.Context) *rawProc {
	p, _ := ctx.Value(rawProcKey{}).(*rawProc)
	return p
}

// rawABI instantiates the raw floors' own "wasmhot" host module: the part
// of ABI v1 the bench guests import (self, send, receive, state, log), with
// Go channels for mailboxes and no checks beyond bounds. With emptySelf,
// self is an empty function (the bare host round trip).
func rawABI(b *testing.B, r wazero.Runtime, emptySelf bool) {
	b.Helper()
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	self := func(ctx context.Context, m api.Module, stack []uint64) {
		stack[0] = uint64(rawProcOf(ctx).handle)
	}
	if emptySelf {
		self = func(ctx context.Context, m api.Module, stack []uint64) { stack[0] = 1 }
	}
	_, err := r.NewHostModuleBuilder("wasmhot").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(self), nil, []api.ValueType{i64}).
		Export("self").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
			p := rawProcOf(ctx)
			to := int64(stack[0])
			view, ok := m.Memory().Read(uint32(stack[1]), uint32(stack[2]))
			if !ok || to <= 0 || to >= int64(len(p.net)) {
				stack[0] = api.EncodeI32(-3)
				return
			}
			msg := make([]byte, len(view))
			copy(msg, view)
			p.net[to] <- msg
			stack[0] = 0
		}), []api.ValueType{i64, i32, i32}, []api.ValueType{i32}).
		Export("send").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
			msg := <-rawProcOf(ctx).in
			if uint32(len(msg)) <= uint32(stack[1]) && !m.Memory().Write(uint32(stack[0]), msg) {
				panic("receive: buffer outside memory")
			}
			stack[0] = uint64(len(msg))
		}), []api.ValueType{i32, i32, i32}, []api.ValueType{i32}).
		Export("receive").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
			st := rawProcOf(ctx).state
			if uint32(len(st)) <= uint32(stack[1]) && !m.Memory().Write(uint32(stack[0]), st) {
				panic("state: buffer outside memory")
			}
			stack[0] = uint64(len(st))
		}), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		Export("state").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {}),
			[]api.ValueType{i32, i32}, nil).
		Export("log").
		Instantiate(benchCtx)
	if err != nil {
		b.Fatal(err)
	}
}

// rawExtB instantiates a host module "b" whose f(i32) -> i32 calls the
// given function (another instance's f) with CallWithStack on a reused
// stack: the call_ext floor. Single goroutine only.
func rawExtB(b *testing.B, r wazero.Runtime, callee *api.Function) {
	b.Helper()
	scratch := make([]uint64, 1)
	_, err := r.NewHostModuleBuilder("b").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
			scratch[0] = stack[0]
			if err := (*callee).CallWithStack(ctx, scratch); err != nil {
				panic(err)
			}
			stack[0] = scratch[0]
		}), []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}).
		Export("f").
		Instantiate(benchCtx)
	if err != nil {
		b.Fatal(err)
	}
}

func i64Bytes(v uint64) []byte {
	return binary.LittleEndian.AppendUint64(nil, v)
}

// ---------------------------------------------------------------------------

// CallExt: guest a's run(n) makes n calls of the imported b:f.
//
//	wasmhot        a and b loaded in wasmhot; run is called from Go
//	               (Func.Call). Sandboxed: each call checks the link epoch
//	               and goes through a's link table into the Go call's
//	               instance of b's current version. Trusted: a → stub →
//	               host dispatch → export table → b's instance.
//	wasmhot_proc   the same loop in a process (a:proc, started by a message
//	               with n; timed from the message to the end of Wait)
//	floor_direct   raw: a linked to b natively, a direct import (no host
//	               hop, not swappable)
//	floor_local    raw: the same loop with a local call instead (run_local)
//	floor          raw: a's import b.f is a Go host function that does
//	               CallWithStack into another instance's f on a reused stack
//	               (the host round trip)
func CallExt(r Runner) {
	for _, m := range benchModes {
		r.Run(m.name+"/wasmhot", func(b *testing.B) {
			h := abHost(b, m)
			countLoop(b, benchFunc(b, h, "a", "run"), "run")
		})
		r.Run(m.name+"/wasmhot_proc", func(b *testing.B) {
			h := abHost(b, m)
			pid, err := h.Spawn(benchCtx, "a", "proc", nil)
			if err != nil {
				b.Fatal(err)
			}
			timeProcess(b, h, pid, i64Bytes(uint64(b.N)))
		})
		r.Run(m.name+"/floor", func(b *testing.B) {
			rawCaller(b, "run")
		})
		r.Run(m.name+"/floor_local", func(b *testing.B) {
			rawCaller(b, "run_local")
		})
		r.Run(m.name+"/floor_direct", func(b *testing.B) {
			r := rawRuntime(b)
			rawABI(b, r, true)
			bm := rawInstantiate(b, benchCtx, r, "bench_b")
			rctx := experimental.WithImportResolver(benchCtx, func(name string) api.Module {
				if name == "b" {
					return bm
				}
				return nil
			})
			countLoop(b, rawExport(b, rawInstantiate(b, rctx, r, "bench_a"), "run"), "run")
		})
	}
}

// rawCaller instantiates bench_a on a raw runtime whose import b.f calls
// bench_b's f through a Go host function (the external-call floor), then
// times a's export fn over b.N iterations and checks its answer.
func rawCaller(b *testing.B, fn string) {
	b.Helper()
	r := rawRuntime(b)
	rawABI(b, r, true)
	var callee api.Function
	rawExtB(b, r, &callee)
	callee = rawExport(b, rawInstantiate(b, benchCtx, r, "bench_b"), "f")
	countLoop(b, rawExport(b, rawInstantiate(b, benchCtx, r, "bench_a"), fn), fn)
}

// LocalCall is the reference for CallExt: the same loop with a
// local call, so ns/op is the price of a call inside one Wasm module. The
// wasmhot row differs from the floor only by the one outer Go call.
func LocalCall(r Runner) {
	for _, m := range benchModes {
		r.Run(m.name+"/wasmhot", func(b *testing.B) {
			countLoop(b, benchFunc(b, abHost(b, m), "a", "run_local"), "run_local")
		})
		r.Run(m.name+"/floor", func(b *testing.B) {
			rawCaller(b, "run_local")
		})
	}
}

// HostCall is the other reference for CallExt: a guest → Go host
// function → back. wasmhot: the ABI's self (looks the process up in the
// ctx); floor: an empty host function of the same type.
func HostCall(r Runner) {
	for _, m := range benchModes {
		r.Run(m.name+"/wasmhot_self", func(b *testing.B) {
			benchLoop(b, benchFunc(b, abHost(b, m), "a", "run_self")) // self() is 0 in a Go call
		})
		r.Run(m.name+"/floor_empty", func(b *testing.B) {
			r := rawRuntime(b)
			rawABI(b, r, true)
			var callee api.Function
			rawExtB(b, r, &callee)
			countLoop(b, rawExport(b, rawInstantiate(b, benchCtx, r, "bench_a"), "run_self"), "run_self")
		})
	}
}

// GoCall: Go → guest b:inc(i32) -> i32, one call per op.
//
//	wasmhot              Func.Call of a Func resolved once
//	wasmhot_stack        Func.CallWithStack on a reused stack
//	floor_CallWithStack  api.Function.CallWithStack on a reused stack
//	floor_Call           api.Function.Call
func GoCall(r Runner) {
	for _, m := range benchModes {
		bHost := func(b *testing.B) *host.Func {
			h := benchHost(b, m)
			mustLoad(b, h, "b", "bench_b")
			return benchFunc(b, h, "b", "inc")
		}
		raw := func(b *testing.B) api.Function {
			return rawExport(b, rawInstantiate(b, benchCtx, rawRuntime(b), "bench_b"), "inc")
		}
		r.Run(m.name+"/wasmhot", func(b *testing.B) { incLoop(b, bHost(b)) })
		r.Run(m.name+"/wasmhot_stack", func(b *testing.B) { incStackLoop(b, bHost(b)) })
		r.Run(m.name+"/floor_CallWithStack", func(b *testing.B) { incStackLoop(b, raw(b)) })
		r.Run(m.name+"/floor_Call", func(b *testing.B) { incLoop(b, raw(b)) })
	}
}

// incLoop times b.N calls x = inc(x) of f, after one untimed call, and
// checks the count.
func incLoop(b *testing.B, f caller) {
	b.Helper()
	if _, err := f.Call(benchCtx, 0); err != nil {
		b.Fatal(err)
	}
	var x uint64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := f.Call(benchCtx, x)
		if err != nil {
			b.Fatal(err)
		}
		x = res[0]
	}
	b.StopTimer()
	if x != uint64(b.N) {
		b.Fatalf("inc^%d(0) = %d", b.N, x)
	}
}

// incStackLoop is incLoop with CallWithStack on a reused stack.
func incStackLoop(b *testing.B, f stackCaller) {
	b.Helper()
	stack := make([]uint64, 1)
	if err := f.CallWithStack(benchCtx, stack); err != nil {
		b.Fatal(err)
	}
	stack[0] = 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := f.CallWithStack(benchCtx, stack); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if stack[0] != uint64(b.N) {
		b.Fatalf("inc^%d(0) = %d", b.N, stack[0])
	}
}

// Spawn: a process whose entry returns at once, per op.
//
//	wasmhot            Spawn + Wait
//	floor              InstantiateModule + Close of the same module, with
//	                   wasmhot's module config
//	floor_go_call      reference: InstantiateModule, then on a new
//	                   goroutine ExportedFunction + CallWithStack of the
//	                   entry and Close, waited for on a channel: what a
//	                   process minimally is
func Spawn(r Runner) {
	for _, m := range benchModes {
		r.Run(m.name+"/wasmhot", func(b *testing.B) {
			h := benchHost(b, m)
			mustLoad(b, h, "sp", "bench_spawn")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pid, err := h.Spawn(benchCtx, "sp", "start", nil)
				if err != nil {
					b.Fatal(err)
				}
				exit, err := h.Wait(benchCtx, pid)
				if err != nil || exit.Reason != host.Normal {
					b.Fatalf("process exit %v, %v", exit, err)
				}
			}
		})
		r.Run(m.name+"/floor", func(b *testing.B) {
			r := rawRuntime(b)
			cm, err := r.CompileModule(benchCtx, wasm("bench_spawn"))
			if err != nil {
				b.Fatal(err)
			}
			mc := rawModConfig()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				mod, err := r.InstantiateModule(benchCtx, cm, mc)
				if err != nil {
					b.Fatal(err)
				}
				_ = mod.Close(benchCtx)
			}
		})
		r.Run(m.name+"/floor_go_call", func(b *testing.B) {
			r := rawRuntime(b)
			cm, err := r.CompileModule(benchCtx, wasm("bench_spawn"))
			if err != nil {
				b.Fatal(err)
			}
			mc := rawModConfig()
			errs := make(chan error)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				mod, err := r.InstantiateModule(benchCtx, cm, mc)
				if err != nil {
					b.Fatal(err)
				}
				go func() {
					err := mod.ExportedFunction("start").CallWithStack(benchCtx, make([]uint64, 1))
					_ = mod.Close(benchCtx)
					errs <- err
				}()
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// MessageRoundTrip: a pinger and a ponger process of bench_ping
// exchange a 64-byte message and its echo, b.N times; ns/op is one round
// trip. The pinger starts on a message carrying b.N; the timer runs from
// that message to the pinger's exit.
//
//	wasmhot  two wasmhot processes, the ABI's send and receive
//	floor    the same guest bytes as two raw instances on two goroutines,
//	         with the floor's own send/receive over buffered Go channels
func MessageRoundTrip(r Runner) {
	for _, m := range benchModes {
		r.Run(m.name+"/wasmhot", func(b *testing.B) {
			h := benchHost(b, m)
			mustLoad(b, h, "pp", "bench_ping")
			pong, err := h.Spawn(benchCtx, "pp", "pong", nil)
			if err != nil {
				b.Fatal(err)
			}
			info, err := h.Process(pong)
			if err != nil {
				b.Fatal(err)
			}
			ping, err := h.Spawn(benchCtx, "pp", "ping", i64Bytes(uint64(info.Handle)))
			if err != nil {
				b.Fatal(err)
			}
			timeProcess(b, h, ping, i64Bytes(uint64(b.N)))
			if exit, err := h.Wait(benchCtx, pong); err != nil || exit.Reason != host.Normal {
				b.Fatalf("ponger exit %v, %v", exit, err)
			}
		})
		r.Run(m.name+"/floor", func(b *testing.B) {
			r := rawRuntime(b)
			rawABI(b, r, false)
			const pongH, pingH = 1, 2
			net := []chan []byte{nil, make(chan []byte, 64), make(chan []byte, 64)}
			pongP := &rawProc{handle: pongH, in: net[pongH], net: net}
			pingP := &rawProc{handle: pingH, in: net[pingH], net: net, state: i64Bytes(pongH)}
			pongM := rawInstantiate(b, benchCtx, r, "bench_ping")
			pingM := rawInstantiate(b, benchCtx, r, "bench_ping")
			pongF, pingF := rawExport(b, pongM, "pong"), rawExport(b, pingM, "ping")
			pongDone := make(chan error, 1)
			go func() {
				pongDone <- pongF.CallWithStack(context.WithValue(benchCtx, rawProcKey{}, pongP), make([]uint64, 1))
			}()
			pctx := context.WithValue(benchCtx, rawProcKey{}, pingP)
			start := i64Bytes(uint64(b.N))
			b.ReportAllocs()
			b.ResetTimer()
			net[pingH] <- start
			err := pingF.CallWithStack(pctx, make([]uint64, 1))
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if err := <-pongDone; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// Switch: Finish of one prepared module (bench_b as "sw", which
// has a current version, so each Finish makes it old), with 1 or 1000 other
// modules loaded. Untimed per op: the purge of sw's old version that makes
// the switch legal, and the Prepare. There is no wazero floor: wazero has
// no code switch.
func Switch(r Runner) {
	for _, m := range benchModes {
		for _, others := range []int{1, 1000} {
			r.Run(fmt.Sprintf("%s/modules=%d", m.name, others), func(b *testing.B) {
				h := benchHost(b, m)
				bin := wasm("bench_b")
				for i := 0; i < others; i++ {
					if _, err := h.Load(benchCtx, fmt.Sprintf("other%04d", i), bin); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := h.Load(benchCtx, "sw", bin); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					if _, err := h.Purge(benchCtx, "sw"); err != nil {
						b.Fatal(err)
					}
					p, err := h.Prepare(benchCtx, host.Source{Name: "sw", Wasm: bin})
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if err := h.Finish(benchCtx, p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// Modules: Host.Modules() (what `wasmhot modules`, the node's manifest and
// every Which cost) with 500 modules loaded, beside 0 and 4,000 processes
// blocked in receive: lingering is kept per version, so the processes
// should not count.
func Modules(r Runner) {
	for _, procs := range []int{0, 4000} {
		r.Run(fmt.Sprintf("sandboxed/processes=%d", procs), func(b *testing.B) {
			h := benchHost(b, benchModes[0])
			bin := wasm("bench_b")
			for i := 0; i < 500; i++ {
				if _, err := h.Load(benchCtx, fmt.Sprintf("m%03d", i), bin); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := h.Load(benchCtx, "a", wasm("a_loop_v1")); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < procs; i++ {
				if _, err := h.Spawn(benchCtx, "a", "run", nil); err != nil {
					b.Fatal(err)
				}
			}
			for !allSuspended(h) { // time the report, not the spawns settling
				time.Sleep(time.Millisecond)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if len(h.Modules()) != 501 {
					b.Fatal("modules missing")
				}
			}
		})
	}
}

func allSuspended(h *host.Host) bool {
	for _, pi := range h.Processes() {
		if pi.Status != host.Suspended {
			return false
		}
	}
	return true
}

// distinctWasm returns bin with a custom section holding n appended:
// distinct bytes (so a compile cache miss) of the same module.
// nextWasm returns bin, or with cold a copy of it made distinct by the
// next sequence number (a compile-cache miss).
func nextWasm(bin []byte, cold bool, seq *uint64) []byte {
	if !cold {
		return bin
	}
	*seq++
	return distinctWasm(bin, *seq)
}

func distinctWasm(bin []byte, n uint64) []byte {
	const name = "bench"
	out := make([]byte, 0, len(bin)+3+len(name)+8)
	out = append(out, bin...)
	out = append(out, 0x00, byte(1+len(name)+8), byte(len(name)))
	out = append(out, name...)
	return binary.LittleEndian.AppendUint64(out, n)
}

// loadBatch is how many modules the Load benchmarks load before they
// delete and purge them (untimed), so that memory stays bounded.
const loadBatch = 64

// Load: Load of bench_small (6 functions, 1 import, 1 page, data,
// a global) under a fresh name, per op.
//
//	wasmhot_cold        distinct bytes each time: wazero compiles
//	wasmhot_hit         the same bytes as a module loaded before: wazero's
//	                    in-memory cache hits (decode, validate, hash remain)
//	floor_compile_miss  raw CompileModule of distinct bytes, then Close
//	floor_compile_hit   raw CompileModule of bytes compiled before, then Close
//	floor_miss+inst     raw CompileModule of distinct bytes + InstantiateModule
//	floor_hit+inst      the same with bytes compiled before
//
// The +inst floors do what a load minimally does: compile, and instantiate
// once with wasmhot's module config (the instance and the compiled module
// are closed every loadBatch ops, untimed, as the wasmhot rows purge).
// The wasmhot rows also instantiate the module once (Prepare does, to run
// its start function), so wasmhot ≈ compile + instantiate + bookkeeping.
// Every loadBatch loads the loaded names are deleted and purged, untimed.
func Load(r Runner) {
	small := wasm("bench_small")
	for _, m := range benchModes {
		for _, cold := range []bool{true, false} {
			name := map[bool]string{true: "wasmhot_cold", false: "wasmhot_hit"}[cold]
			r.Run(m.name+"/"+name, func(b *testing.B) {
				h := benchHost(b, m)
				if _, err := h.Load(benchCtx, "keep", small); err != nil {
					b.Fatal(err)
				}
				names := make([]string, loadBatch)
				for i := range names {
					names[i] = fmt.Sprintf("ld%02d", i)
				}
				clean := func(n int) {
					for _, name := range names[:n] {
						if _, err := h.Delete(benchCtx, name); err != nil {
							b.Fatal(err)
						}
						if _, err := h.Purge(benchCtx, name); err != nil {
							b.Fatal(err)
						}
					}
				}
				seq := uint64(0)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					bin := nextWasm(small, cold, &seq)
					if _, err := h.Load(benchCtx, names[i%loadBatch], bin); err != nil {
						b.Fatal(err)
					}
					if i%loadBatch == loadBatch-1 {
						b.StopTimer()
						clean(loadBatch)
						b.StartTimer()
					}
				}
				b.StopTimer()
				clean(b.N % loadBatch)
			})
		}
		r.Run(m.name+"/floor_compile_miss", func(b *testing.B) {
			r := rawRuntime(b)
			seq := uint64(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				seq++
				cm, err := r.CompileModule(benchCtx, distinctWasm(small, seq))
				if err != nil {
					b.Fatal(err)
				}
				_ = cm.Close(benchCtx)
			}
		})
		for _, cold := range []bool{true, false} {
			name := map[bool]string{true: "floor_miss+inst", false: "floor_hit+inst"}[cold]
			r.Run(m.name+"/"+name, func(b *testing.B) {
				r := rawRuntime(b)
				rawABI(b, r, true)
				keep, err := r.CompileModule(benchCtx, small)
				if err != nil {
					b.Fatal(err)
				}
				defer keep.Close(benchCtx)
				mc := rawModConfig()
				var cms []wazero.CompiledModule
				var mods []api.Module
				clean := func() {
					for i := range mods {
						_ = mods[i].Close(benchCtx)
						_ = cms[i].Close(benchCtx)
					}
					cms, mods = cms[:0], mods[:0]
				}
				seq := uint64(0)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					bin := nextWasm(small, cold, &seq)
					cm, err := r.CompileModule(benchCtx, bin)
					if err != nil {
						b.Fatal(err)
					}
					mod, err := r.InstantiateModule(benchCtx, cm, mc)
					if err != nil {
						b.Fatal(err)
					}
					cms, mods = append(cms, cm), append(mods, mod)
					if i%loadBatch == loadBatch-1 {
						b.StopTimer()
						clean()
						b.StartTimer()
					}
				}
				b.StopTimer()
				clean()
			})
		}
		r.Run(m.name+"/floor_compile_hit", func(b *testing.B) {
			r := rawRuntime(b)
			keep, err := r.CompileModule(benchCtx, small)
			if err != nil {
				b.Fatal(err)
			}
			defer keep.Close(benchCtx)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cm, err := r.CompileModule(benchCtx, small)
				if err != nil {
					b.Fatal(err)
				}
				_ = cm.Close(benchCtx)
			}
		})
	}
}
