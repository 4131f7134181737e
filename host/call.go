package host

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmhot/wasmhot/exports"
	"github.com/wasmhot/wasmhot/modules"
)

// Func is a resolved module:function name. Every call through it goes
// through the export table to the module's current version at call time;
// resolving once saves the name lookup of [Host.Call].
type Func struct {
	h                *Host
	module, function string
	// slot is the name's export-table slot, found at the first call that
	// finds the name exported (nil until then: a Func of a name nothing
	// exports keeps nothing in the table).
	slot atomic.Pointer[exports.Slot[target]]
}

// Func resolves module:function. The function need not exist yet: calls fail
// with ErrUndef until a version of the module exports it.
func (h *Host) Func(module, function string) (*Func, error) {
	if err := modules.CheckName(module); err != nil {
		return nil, err
	}
	if err := modules.CheckFunctionName(function); err != nil {
		return nil, err
	}
	f := &Func{h: h, module: module, function: function}
	if s := h.findSlot(module, function); s != nil {
		f.slot.Store(s)
	}
	return f, nil
}

// Name returns "module:function".
func (f *Func) Name() string { return f.module + ":" + f.function }

// Call calls module:function with the given Wasm values (i32 and f32 in the
// low 32 bits, as wazero's api.Encode* helpers make them) and returns its
// results. It fails with ErrUndef when the current version lacks the
// function, ErrBadArity when the number of arguments differs from the
// function's parameters, ErrPurged when the version was purged under the
// call, ErrTrap when the guest trapped.
func (h *Host) Call(ctx context.Context, module, function string, args ...uint64) ([]uint64, error) {
	f, err := h.Func(module, function)
	if err != nil {
		return nil, err
	}
	return f.Call(ctx, args...)
}

// Call calls the function; see [Host.Call].
func (f *Func) Call(ctx context.Context, args ...uint64) ([]uint64, error) {
	t, in, err := f.acquire(ctx, shape{'a', len(args)})
	if err != nil {
		return nil, f.h.countCallFailure(f.h.closedErr(err))
	}
	c := t.code
	stack := make([]uint64, max(len(t.sig.Params), len(t.sig.Results)))
	copy(stack, args)
	err = c.callStack(ctx, t, in, stack)
	c.giveBack(in)
	if err != nil {
		return nil, f.h.countCallFailure(f.h.closedErr(err))
	}
	return stack[:len(t.sig.Results)], nil
}

// shape is what a Go call needs of its target's signature: n arguments
// (Call), a stack of n values (CallWithStack), or the bytes convention.
type shape struct {
	kind byte // 'a', 's' or 'b'
	n    int
}

// check returns what makes t's signature unfit for the call ("": fit).
func (s shape) check(t *target) string {
	switch {
	case s.kind == 'b' && !t.sig.Equal(bytesSig):
		return fmt.Sprintf("%s is not a bytes function %s", t.sig, bytesSig)
	case s.kind == 's' && s.n < max(len(t.sig.Params), len(t.sig.Results)):
		return fmt.Sprintf("stack of %d for %s", s.n, t.sig)
	case s.kind == 'a' && s.n != len(t.sig.Params):
		return fmt.Sprintf("%d arguments for %s", s.n, t.sig)
	}
	return ""
}

// acquire is the one way in for a Go call: it resolves f in the current
// generation of the export table (loading its module from the code path
// if needed), checks the signature, and lends an instance of the target's
// version (c.lend: the caller holds the version's gate until giveBack). A
// version purged since the lookup sends it to look again.
func (f *Func) acquire(ctx context.Context, s shape) (*target, *instance, error) {
	if err := f.h.checkOpen(); err != nil {
		return nil, nil, err
	}
	slot := f.slot.Load()
	if slot == nil || slot.Retired() {
		if slot = f.h.findSlotLoading(ctx, f.module, f.function); slot == nil {
			return nil, nil, undefErr(f.module, f.function)
		}
		f.slot.Store(slot)
	}
	for {
		t := f.h.resolve(ctx, slot)
		if t == nil {
			return nil, nil, undefErr(f.module, f.function)
		}
		if why := s.check(t); why != "" {
			return nil, nil, badArity(f.module, f.function, "%s", why)
		}
		in, err := t.code.lend(ctx)
		if err == errGateClosed {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		f.h.stats.countCall(in)
		return t, in, nil
	}
}

// resolve looks up a call's target in the current generation of the
// export table, loading its module from the code path if needed. Every
// call, the external calls a call chain makes included, resolves at the
// moment it is made: a chain does not keep the generation it began in.
// A slot retired since its holder found it is found again by name.
func (h *Host) resolve(ctx context.Context, slot *exports.Slot[target]) *target {
	for range 8 {
		t := slot.Lookup()
		if t == nil && h.autoload(ctx, slot.Module) {
			t = slot.Lookup()
		}
		if !slot.Retired() {
			return t
		}
		if slot = h.findSlot(slot.Module, slot.Function); slot == nil {
			return nil
		}
	}
	return nil // retired under us again and again: as undef
}

// CallWithStack is Call without allocations: stack holds the arguments on
// entry and the results on return, and must be at least as long as the
// larger of the two (as wazero's api.Function.CallWithStack).
func (f *Func) CallWithStack(ctx context.Context, stack []uint64) error {
	t, in, err := f.acquire(ctx, shape{'s', len(stack)})
	if err != nil {
		return f.h.countCallFailure(f.h.closedErr(err))
	}
	err = t.code.callStack(ctx, t, in, stack)
	t.code.giveBack(in)
	if err != nil {
		return f.h.countCallFailure(f.h.closedErr(err))
	}
	return nil
}

// callStack runs one Go → guest call on in, lent by lend; a failed call
// closes in.
func (c *code) callStack(ctx context.Context, t *target, in *instance, stack []uint64) error {
	if c.h.cfg.callTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.h.cfg.callTimeout)
		defer cancel()
	}
	ctx, a := c.h.callAccount(ctx)
	over, err := in.callMetered(ctx, nil, a, in.fn(t.idx), stack)
	if err != nil {
		return c.callError(ctx, in, t, err)
	}
	if over {
		return c.overBudget(t, a)
	}
	if in.fam.overBudget.Load() { // the guest survived a refused grow
		in.fam.overBudget.Store(false)
	}
	return nil
}

// overBudget is the error of a Go call that used more fuel than its
// budget, finishing before a tick could stop it.
func (c *code) overBudget(t *target, a *account) error {
	return callErr(c.ver.Name, c.ver.Exports[t.idx].Name, c.ver.Vsn, Limit, a.exceeded())
}

// callError classifies the failure of a call on in and discards in.
func (c *code) callError(ctx context.Context, in *instance, t *target, err error) error {
	purged := c.gate.Closed() && isClosed(in)
	frames := in.overFrames() // before the close drops in's family
	in.close(0)
	fail := func(reason Reason, err error) error {
		return callErr(c.ver.Name, c.ver.Exports[t.idx].Name, c.ver.Vsn, reason, err)
	}
	switch {
	case purged:
		return fail(Killed, ErrPurged)
	case frames:
		return fail(Limit, fmt.Errorf("%w: %w", errFrames, err))
	case in.fam.overBudget.Swap(false):
		return fail(Limit, fmt.Errorf("%w: memory budget used up (the guest could not grow its memory): %w", ErrLimit, err))
	case ctx.Err() != nil:
		return fail(Killed, ctx.Err())
	case errors.Is(err, ErrUndef), errors.Is(err, ErrBadArity), errors.Is(err, ErrPurged), errors.Is(err, ErrLimit):
		// An external call the guest made failed; say so, not "trap".
		return fail(reasonOf(err), err)
	default:
		return fail(Trap, fmt.Errorf("%w: %w", ErrTrap, err))
	}
}

// reasonOf is the reason of a failure that came out of a guest: that of
// the innermost call that failed, or trap.
func reasonOf(err error) Reason {
	if ce := Innermost(err); ce != nil {
		return ce.Reason
	}
	switch {
	case errors.Is(err, ErrLimit):
		return Limit
	case errors.Is(err, ErrPurged):
		return Killed
	}
	return Trap
}

func isClosed(in *instance) bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

// CallBytes calls module:function by the bytes convention: the callee
// exports alloc(len i32) -> ptr i32 and function(ptr, len i32) -> i64
// returning ptr<<32|len of its result in its own memory. The host copies the
// input in and the result out, so neither side sees the other's memory.
func (h *Host) CallBytes(ctx context.Context, module, function string, in []byte) ([]byte, error) {
	f, err := h.Func(module, function)
	if err != nil {
		return nil, err
	}
	return f.CallBytes(ctx, in)
}

var bytesSig = modules.Signature{
	Params:  []api.ValueType{api.ValueTypeI32, api.ValueTypeI32},
	Results: []api.ValueType{api.ValueTypeI64},
}

// CallBytes calls the function by the bytes convention; see [Host.CallBytes].
func (f *Func) CallBytes(ctx context.Context, in []byte) ([]byte, error) {
	if len(in) > f.h.cfg.maxMessageSize {
		return nil, f.h.countCallFailure(callErr(f.module, f.function, 0, Limit,
			fmt.Errorf("%w: input of %d bytes, limit %d", ErrLimit, len(in), f.h.cfg.maxMessageSize)))
	}
	t, inst, err := f.acquire(ctx, shape{'b', 0})
	if err != nil {
		return nil, f.h.countCallFailure(f.h.closedErr(err))
	}
	out, err := t.code.callBytesOn(ctx, t, inst, in)
	t.code.giveBack(inst)
	if err != nil {
		return nil, f.h.countCallFailure(f.h.closedErr(err))
	}
	return out, nil
}

// callBytesOn runs one Go → guest bytes call on in; a failed call closes
// in.
func (c *code) callBytesOn(ctx context.Context, t *target, in *instance, data []byte) ([]byte, error) {
	if c.h.cfg.callTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.h.cfg.callTimeout)
		defer cancel()
	}
	ctx, a := c.h.callAccount(ctx)
	out, over, err := in.callBytes(ctx, nil, a, t.idx, data, c.h.cfg.maxMessageSize)
	if err == nil && over {
		err = c.overBudget(t, a)
	}
	if err != nil {
		var be *bytesError
		if errors.As(err, &be) {
			in.close(0) // its memory may be in any state
			return nil, err
		}
		return nil, c.callError(ctx, in, t, err)
	}
	return out, nil
}

// bytesError is a breach of the bytes convention by the callee.
type bytesError struct{ msg string }

func (e *bytesError) Error() string { return e.msg }
func (e *bytesError) Unwrap() error { return ErrBadResult }

// callBytes runs the bytes convention on this instance: alloc, copy in,
// call, copy out, charging the fuel to a; over reports a budget exceeded.
// Wasm errors are returned unwrapped; convention breaches as *bytesError.
func (in *instance) callBytes(ctx context.Context, p *process, a *account, idx int, data []byte, limit int) (out []byte, over bool, err error) {
	if p != nil {
		p.leaveHost()
	}
	in.fuelIn(a)
	out, err = in.bytesConvention(ctx, idx, data, limit)
	if p != nil {
		p.enterHost()
	}
	return out, in.fuelOut(a), err
}

func (in *instance) bytesConvention(ctx context.Context, idx int, data []byte, limit int) ([]byte, error) {
	c := in.code
	name := c.ver.Name + ":" + c.ver.Exports[idx].Name
	if c.alloc < 0 || in.mem == nil {
		return nil, &bytesError{fmt.Sprintf("host: %s: module exports no alloc(i32)->i32 or no memory", name)}
	}
	stack := []uint64{uint64(len(data))}
	if err := in.fn(c.alloc).CallWithStack(ctx, stack); err != nil {
		return nil, err
	}
	ptr := uint32(stack[0])
	if !in.mem.Write(ptr, data) {
		return nil, &bytesError{fmt.Sprintf("host: %s: alloc(%d) returned %#x, outside memory of %d bytes", name, len(data), ptr, in.mem.Size())}
	}
	stack = []uint64{uint64(ptr), uint64(len(data))}
	if err := in.fn(idx).CallWithStack(ctx, stack); err != nil {
		return nil, err
	}
	optr, olen := uint32(stack[0]>>32), uint32(stack[0])
	if int64(olen) > int64(limit) {
		return nil, &bytesError{fmt.Sprintf("host: %s: result of %d bytes, limit %d", name, olen, limit)}
	}
	out, ok := in.mem.Read(optr, olen)
	if !ok {
		return nil, &bytesError{fmt.Sprintf("host: %s: result %#x+%d outside memory of %d bytes", name, optr, olen, in.mem.Size())}
	}
	return append([]byte(nil), out...), nil
}
