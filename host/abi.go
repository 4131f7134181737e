package host

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmhot/wasmhot/modules"
)

// ABIModule is the import module name of the guest ABI.
const ABIModule = "wasmhot"

// WASIModule is the import module name of WASI (preview 1), granted per
// module with Config.WithWASI.
const WASIModule = "wasi_snapshot_preview1"

// The signatures of the exports the ABI gives a role to (docs/design.md,
// "Guest ABI"); each call returns a fresh copy.

// EntrySignature is a process entry point's: () -> ().
func EntrySignature() modules.Signature { return entrySig.Clone() }

// BytesSignature is a bytes-convention function's: (ptr, len i32) ->
// (ptr<<32|len i64).
func BytesSignature() modules.Signature { return bytesSig.Clone() }

// AllocSignature is alloc's, which bytes calls need: (size i32) -> (ptr i32).
func AllocSignature() modules.Signature { return allocSig.Clone() }

// CodeChangeSignature is code_change's: (from_vsn i64) -> ().
func CodeChangeSignature() modules.Signature { return codeChangeSig.Clone() }

// Error codes the ABI returns to guests.
const (
	abiUndef       = -1 // spawn, call_bytes: no such module:function
	abiNoProc      = -1 // send: no such process
	abiTimeout     = -1 // receive: timeout
	abiLimit       = -2 // spawn: process limit; send: mailbox full
	abiBadArity    = -2 // call_bytes: not a bytes function
	abiBadArgument = -3 // a pointer, length or name the host cannot use
)

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

type abiFunc struct {
	name string
	sig  modules.Signature
	fn   func(h *Host, ctx context.Context, m api.Module, stack []uint64)
}

func sig(params []api.ValueType, results ...api.ValueType) modules.Signature {
	return modules.Signature{Params: params, Results: results}
}

func vt(ts ...api.ValueType) []api.ValueType { return ts }

// abi lists the imports of the guest ABI with their Wasm types (v1, and
// what v2 adds).
var abi = []abiFunc{
	{"self", sig(nil, i64), (*Host).abiSelf},
	{"spawn", sig(vt(i32, i32, i32, i32, i32, i32), i64), (*Host).abiSpawn},
	{"send", sig(vt(i64, i32, i32), i32), (*Host).abiSend},
	{"receive", sig(vt(i32, i32, i32), i32), (*Host).abiReceive},
	{"sleep", sig(vt(i32)), (*Host).abiSleep},
	{"state", sig(vt(i32, i32), i32), (*Host).abiState},
	{"set_state", sig(vt(i32, i32)), (*Host).abiSetState},
	{"continue", sig(vt(i32, i32)), (*Host).abiContinue},
	{"call_bytes", sig(vt(i32, i32, i32, i32, i32, i32, i32, i32), i32), (*Host).abiCallBytes},
	{"log", sig(vt(i32, i32)), (*Host).abiLog},
	// ABI v2
	{"call_checked", callCheckedSig, (*Host).abiCallChecked},
}

func (h *Host) instantiateABI(ctx context.Context) error {
	b := h.r.NewHostModuleBuilder(ABIModule)
	for _, f := range abi {
		fn := f.fn
		name := f.name
		b = b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
			p := procFrom(ctx)
			defer h.recoverHost(p, name)
			if p != nil {
				if p.killed() {
					// Killed: its instance is closed, but the guest runs
					// on to its next tick, which a loop of host calls
					// (log, send) reaches only after tens of thousands
					// of them.
					exit(p, Killed, nil)
				}
				p.enterHost()
				defer p.leaveHost()
				p.hostYield()
			}
			fn(h, ctx, m, stack)
		}), f.sig.Params, f.sig.Results).Export(f.name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("host: instantiate the %s module: %w", ABIModule, err)
	}
	return nil
}

// checkImport is the code table's import policy: wasmhot imports must be
// ABI v1 functions with their exact types; an import from a module of
// host functions must name one of its functions, with its exact type
// (hostfunc.go); any other import is an external call to a guest module
// (see stub.go).
func (h *Host) checkImport(module string, imp modules.Import) error {
	if imp.Module == wasiModule {
		if !h.cfg.grantsWASI(module) {
			return fmt.Errorf("WASI is not granted to module %q (Config.WithWASI)", module)
		}
		return nil
	}
	if imp.Module == ABIModule {
		for _, f := range abi {
			if f.name == imp.Name {
				if !f.sig.Equal(imp.Signature) {
					return fmt.Errorf("wasmhot.%s has type %s", f.name, f.sig)
				}
				return nil
			}
		}
		return fmt.Errorf("wasmhot has no function %q in ABI v1", imp.Name)
	}
	if m := h.cfg.hostModule(imp.Module); m != nil {
		return m.checkImport(imp)
	}
	return checkExtImport(imp)
}

// recoverHost turns a panic in a host function (a bug of wasmhot's, not the
// guest's) into the end of the calling process only, with reason trap, and
// logs it. The deliberate unwinding of exit passes through.
func (h *Host) recoverHost(p *process, name string) {
	r := recover()
	if r == nil {
		return
	}
	if _, ok := r.(*sys.ExitError); ok {
		panic(r)
	}
	if _, bug := r.(runtime.Error); !bug && p == nil {
		panic(r) // a Go call's failure (exit, extFail) carries its sentinel
	}
	err := fmt.Errorf("host panic in wasmhot.%s: %v", name, r)
	h.logLine(nil, p, []byte(err.Error()))
	exit(p, Trap, err)
}

// exit unwinds the calling guest: the process ends with reason, or, in a Go
// call (no process), the call fails with err.
func exit(p *process, reason Reason, err error) {
	if p == nil {
		if err == nil {
			err = errors.New(string(reason))
		}
		panic(fmt.Errorf("%s: %w", reason, err))
	}
	p.mu.Lock()
	if p.fail == nil {
		p.fail = &Exit{Reason: reason, Err: err}
	}
	p.mu.Unlock()
	panic(sys.NewExitError(exitKilled))
}

// read returns the guest bytes at ptr, len (i32 values from the stack),
// copied, or ok false when they lie outside the memory.
func read(m api.Module, ptr, n uint64) ([]byte, bool) {
	b, ok := view(m, ptr, n)
	if !ok {
		return nil, false
	}
	return clone(b), true
}

// copyChunk bounds what one memmove copies in clone and copyInChunks.
const copyChunk = 256 << 10

// copyInChunks copies src to dst (len(dst) >= len(src)) a chunk at a
// time, and gives up its CPU (runtime.Gosched) between chunks once it has
// copied for yieldEvery. One copy is a single memmove, which the Go
// scheduler cannot preempt, and a state or message may be 16 MiB of a
// guest's memory, whose pages may not be resident yet. Chunks alone did
// not help: a loop of copies has no point where the goroutine checks for
// preemption, and the scheduler's signal, due after 10 ms, lands inside
// memmove nearly always, where it cannot stop the goroutine. In a soak
// trace, processes setting 16 MiB states in a loop still ran 30–70 ms at
// a stretch, copying; meanwhile no other goroutine ran on that CPU and
// the garbage collector spun waiting to scan their stacks.
func copyInChunks(dst, src []byte) {
	if len(src) <= copyChunk {
		copy(dst, src)
		return
	}
	last := time.Now()
	for n := 0; n < len(src); n += copyChunk {
		copy(dst[n:], src[n:min(len(src), n+copyChunk)])
		if now := time.Now(); now.Sub(last) >= yieldEvery {
			runtime.Gosched()
			last = time.Now()
		}
	}
}

// write copies b into the guest's memory at ptr, as Memory.Write does,
// a chunk at a time (copyInChunks); false when it does not fit.
func write(m api.Module, ptr uint32, b []byte) bool {
	dst, ok := m.Memory().Read(ptr, uint32(len(b)))
	if !ok {
		return false
	}
	copyInChunks(dst, b)
	return true
}

// clone copies b into a new slice (nil when b is empty), large ones in
// chunks.
func clone(b []byte) []byte {
	if len(b) <= copyChunk {
		return append([]byte(nil), b...)
	}
	out := make([]byte, len(b))
	copyInChunks(out, b)
	return out
}

// view is read without the copy: the bytes are the guest's memory, valid
// until the guest runs again (or grows its memory).
func view(m api.Module, ptr, n uint64) ([]byte, bool) {
	p, l := int32(ptr), int32(n)
	if p < 0 || l < 0 || m.Memory() == nil {
		return nil, false
	}
	return m.Memory().Read(uint32(p), uint32(l))
}

// readName reads a module or function name: valid UTF-8, at most 255 bytes.
func readName(m api.Module, ptr, n uint64) (string, bool) {
	if int32(n) > 255 {
		return "", false
	}
	b, ok := read(m, ptr, n)
	if !ok || len(b) == 0 || !utf8.Valid(b) {
		return "", false
	}
	return string(b), true
}

// buffer checks that ptr, cap (i32s) lie inside the memory.
func buffer(m api.Module, ptr, capacity uint64) (uint32, uint32, bool) {
	p, c := int32(ptr), int32(capacity)
	if p < 0 || c < 0 || m.Memory() == nil {
		return 0, 0, false
	}
	if uint64(p)+uint64(c) > uint64(m.Memory().Size()) {
		return 0, 0, false
	}
	return uint32(p), uint32(c), true
}

func (h *Host) abiSelf(ctx context.Context, m api.Module, stack []uint64) {
	if p := procFrom(ctx); p != nil {
		stack[0] = uint64(p.handle)
	} else {
		stack[0] = 0
	}
}

func (h *Host) abiSpawn(ctx context.Context, m api.Module, stack []uint64) {
	mod, ok1 := readName(m, stack[0], stack[1])
	fn, ok2 := readName(m, stack[2], stack[3])
	arg, ok3 := read(m, stack[4], stack[5])
	if !ok1 || !ok2 || !ok3 || !modules.ValidName(mod) {
		stack[0] = i64Code(abiBadArgument)
		return
	}
	p, err := h.spawn(ctx, mod, fn, arg)
	switch {
	case err == nil:
		stack[0] = uint64(p.handle)
	case errors.Is(err, ErrLimit):
		stack[0] = i64Code(abiLimit)
	case errors.Is(err, ErrUndef), errors.Is(err, ErrBadArity):
		stack[0] = i64Code(abiUndef)
	default:
		stack[0] = i64Code(abiBadArgument)
	}
}

func i64Code(c int64) uint64 { return uint64(c) }
func i32Code(c int32) uint64 { return uint64(uint32(c)) }

func (h *Host) abiSend(ctx context.Context, m api.Module, stack []uint64) {
	to := int64(stack[0])
	if int32(stack[2]) > int32(h.cfg.maxMessageSize) {
		stack[0] = i32Code(abiLimit)
		return
	}
	msg, ok := read(m, stack[1], stack[2])
	if !ok {
		stack[0] = i32Code(abiBadArgument)
		return
	}
	switch h.send(h.procs.get(to), msg) {
	case putOK:
		stack[0] = 0
	case putClosed:
		stack[0] = i32Code(abiNoProc)
	default: // the mailbox's bounds or the node's memory budget
		stack[0] = i32Code(abiLimit)
	}
}

// send delivers msg (owned by the mailbox from now on); putClosed when
// there is no such process.
func (h *Host) send(p *process, msg []byte) putResult {
	if p == nil || p.status.Load() == Exited {
		return putClosed
	}
	return p.mbox.put(msg)
}

func (h *Host) abiReceive(ctx context.Context, m api.Module, stack []uint64) {
	p := procFrom(ctx)
	ptr, capacity, ok := buffer(m, stack[0], stack[1])
	if !ok {
		exit(p, BadArg, fmt.Errorf("receive: buffer %d+%d outside memory", int32(stack[0]), int32(stack[1])))
	}
	timeout := int32(stack[2])
	if p == nil {
		stack[0] = i32Code(abiTimeout)
		return
	}
	p.acct.refill()
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(time.Duration(timeout) * time.Millisecond)
		defer t.Stop()
		timer = t.C
	}
	p.mu.Lock()
	own := p.inst != nil && h.instanceOf(m) == p.inst
	p.mu.Unlock()
	for {
		p.hold(own) // Host.Suspend: stop here, messages kept
		msg, n, ok := p.mbox.take(int(capacity))
		if ok {
			if n <= int(capacity) {
				write(m, ptr, msg)
			}
			stack[0] = i32Code(int32(n))
			return
		}
		if timeout == 0 {
			stack[0] = i32Code(abiTimeout)
			return
		}
		p.suspend()
		woke := true
		select {
		case <-p.mbox.notify: // Kill also leaves a token here
		case <-timer: // nil: no timeout
			woke = false
		case <-p.sys.wake:
		}
		if !p.resume() || p.killed() {
			exit(p, Killed, nil)
		}
		if !woke {
			stack[0] = i32Code(abiTimeout)
			return
		}
	}
}

func (h *Host) abiSleep(ctx context.Context, m api.Module, stack []uint64) {
	ms := int32(stack[0])
	if ms <= 0 {
		return
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	p := procFrom(ctx)
	if p == nil {
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		return
	}
	p.acct.refill()
	p.suspend()
	select {
	case <-t.C:
		if !p.resume() {
			exit(p, Killed, nil)
		}
	case <-p.killCh:
		exit(p, Killed, nil)
	}
}

func (h *Host) abiState(ctx context.Context, m api.Module, stack []uint64) {
	p := procFrom(ctx)
	ptr, capacity, ok := buffer(m, stack[0], stack[1])
	if !ok {
		exit(p, BadArg, fmt.Errorf("state: buffer %d+%d outside memory", int32(stack[0]), int32(stack[1])))
	}
	if p == nil {
		stack[0] = 0
		return
	}
	p.mu.Lock()
	st := p.state
	p.mu.Unlock()
	if len(st) <= int(capacity) {
		write(m, ptr, st)
	}
	stack[0] = i32Code(int32(len(st)))
}

func (h *Host) abiSetState(ctx context.Context, m api.Module, stack []uint64) {
	p := procFrom(ctx)
	if int32(stack[1]) > int32(h.cfg.maxMessageSize) {
		exit(p, Limit, fmt.Errorf("set_state: %d bytes, limit %d", int32(stack[1]), h.cfg.maxMessageSize))
	}
	st, ok := view(m, stack[0], stack[1])
	if !ok {
		exit(p, BadArg, fmt.Errorf("set_state: %d+%d outside memory", int32(stack[0]), int32(stack[1])))
	}
	if p == nil {
		return
	}
	// Only the process's own goroutine reads its state, so the state's
	// buffer is reused (unless it is much larger than the new state):
	// a guest setting its state in a loop does not allocate each time.
	p.mu.Lock()
	grow := int64(len(st) - len(p.state))
	ok = grow <= 0 || h.mem.charge(grow)
	if ok {
		if cap(p.state) > 2*len(st)+4096 || cap(p.state) < len(st) {
			p.state = make([]byte, len(st))
		}
		p.state = p.state[:len(st)]
		copyInChunks(p.state, st)
		if grow < 0 {
			h.mem.release(-grow)
		}
	}
	p.mu.Unlock()
	if !ok {
		exit(p, Limit, fmt.Errorf("set_state: %d bytes: %w: the node's memory budget of %d bytes is used up", len(st), ErrLimit, h.mem.limit))
	}
}

func (h *Host) abiContinue(ctx context.Context, m api.Module, stack []uint64) {
	p := procFrom(ctx)
	fn, ok := readName(m, stack[0], stack[1])
	if !ok {
		exit(p, BadArg, fmt.Errorf("continue: bad function name at %d+%d", int32(stack[0]), int32(stack[1])))
	}
	if p == nil {
		return
	}
	p.mu.Lock()
	p.cont = fn
	p.mu.Unlock()
}

func (h *Host) abiLog(ctx context.Context, m api.Module, stack []uint64) {
	p := procFrom(ctx)
	line, ok := view(m, stack[0], stack[1]) // logLine copies what it keeps
	if !ok {
		exit(p, BadArg, fmt.Errorf("log: %d+%d outside memory", int32(stack[0]), int32(stack[1])))
	}
	var c *code
	if in := h.instanceOf(m); in != nil {
		c = in.code
	} else if p != nil {
		// An instance closed under its running guest is no longer
		// registered; the line is still the guest's (and counts against
		// the log rate).
		p.mu.Lock()
		if p.inst != nil {
			c = p.inst.code
		}
		p.mu.Unlock()
	}
	h.logLine(c, p, line)
}
