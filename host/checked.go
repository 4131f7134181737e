package host

import (
	"context"
	"encoding/binary"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmhot/wasmhot/modules"
)

// call_checked (ABI v2): an external call that returns its failure as a
// value instead of ending the caller, like Erlang's catch M:F(A):
//
//	call_checked(mod_ptr, mod_len, fn_ptr, fn_len, args_ptr, nargs,
//	             res_ptr, nres i32) -> i32
//
// args_ptr holds nargs little-endian u64s (an i32 or f32 in the low 32
// bits, an f64 as its bits); the results are written at res_ptr as nres
// u64s. It returns 0 when the call returned; abiUndef (-1) when
// module:function does not exist in current code (a version that dropped
// it); abiBadArity (-2) when it takes other than nargs parameters or
// returns other than nres results; abiBadArgument (-3) for a bad pointer,
// name or count; abiTrapped (-4) when the callee trapped (or broke a
// limit of its own). Only a kill, or the caller's own budget, still ends
// the caller. A plain import of a function the callee dropped still ends
// the caller with undef, as a plain call in Erlang does.

// abiTrapped: call_checked: the callee trapped.
const abiTrapped = -4

// maxCheckedArgs bounds nargs and nres of call_checked.
const maxCheckedArgs = 16

var callCheckedSig = sig(vt(i32, i32, i32, i32, i32, i32, i32, i32), i32)

func (h *Host) abiCallChecked(ctx context.Context, m api.Module, stack []uint64) {
	p := procFrom(ctx)
	mod, ok1 := readName(m, stack[0], stack[1])
	fn, ok2 := readName(m, stack[2], stack[3])
	nargs, nres := int32(stack[5]), int32(stack[7])
	if !ok1 || !ok2 || nargs < 0 || nargs > maxCheckedArgs || nres < 0 || nres > maxCheckedArgs || !modules.ValidName(mod) {
		stack[0] = i32Code(abiBadArgument)
		return
	}
	args, ok3 := read(m, stack[4], uint64(nargs)*8)
	resPtr, _, ok4 := buffer(m, stack[6], uint64(nres)*8)
	if !ok3 || !ok4 {
		stack[0] = i32Code(abiBadArgument)
		return
	}
	ctx, ok := nest(ctx)
	if !ok {
		exit(p, Limit, callErr(mod, fn, 0, Limit, errNesting))
	}
	arity := func(t *target) bool {
		return len(t.sig.Params) == int(nargs) && len(t.sig.Results) == int(nres)
	}
	t, entered := h.enterName(ctx, mod, fn, arity)
	switch {
	case t == nil:
		stack[0] = i32Code(abiUndef)
		return
	case !entered:
		stack[0] = i32Code(abiBadArity)
		return
	}
	c := t.code
	buf := make([]uint64, max(nargs, nres, 1))
	for i := range int(nargs) {
		buf[i] = binary.LittleEndian.Uint64(args[8*i:])
	}
	in, pooled, err := borrowCallee(ctx, p, c)
	if err != nil {
		c.gate.Leave()
		if p != nil && p.killed() {
			exit(p, Killed, nil)
		}
		stack[0] = i32Code(abiTrapped)
		return
	}
	a := accountFrom(ctx, p)
	over, err := in.callMetered(ctx, p, a, in.fn(t.idx), buf)
	endCallee(p, c, in, pooled, err != nil)
	c.gate.Leave()
	switch {
	case p != nil && p.killed():
		exit(p, Killed, nil)
	case over:
		exit(p, Limit, callErr(c.ver.Name, fn, c.ver.Vsn, Limit, a.exceeded()))
	case err != nil:
		if p != nil {
			p.mu.Lock()
			p.fail = nil // the callee's failure is the caller's value
			p.mu.Unlock()
		}
		stack[0] = i32Code(abiTrapped)
		return
	}
	out := make([]byte, 8*nres)
	for i := range int(nres) {
		binary.LittleEndian.PutUint64(out[8*i:], buf[i])
	}
	m.Memory().Write(resPtr, out)
	stack[0] = 0
}
