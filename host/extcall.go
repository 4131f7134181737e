package host

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmhot/wasmhot/modules"
)

// callee returns an instance of c for a call made by p, and whether it was
// borrowed from c's pool; end the call with p.endCall. While the call runs,
// p lingers in c (a call on its stack). Each process keeps one instance per
// version it calls into; a nested call into a version whose cached instance
// is busy gets a pooled one, because a wazero function must not be
// re-entered. The caller holds c's gate. Only p's goroutine uses callees and
// the busy flags, so they need no lock.
func (p *process) callee(ctx context.Context, c *code) (in *instance, pooled bool, err error) {
	if in, err = p.fam.linked(ctx, c); err != nil {
		return nil, false, err
	}
	if in.busy {
		if in, err = c.get(ctx); err != nil {
			return nil, false, err
		}
		pooled = true
	}
	in.busy = true
	c.mu.Lock()
	c.stacks[p]++
	c.mu.Unlock()
	return in, pooled, nil
}

// borrowCallee returns an instance of c for an external call: in a
// process, p's own (callee); in a Go call (p nil), a pooled one. End the
// call with endCallee. The caller holds c's gate.
func borrowCallee(ctx context.Context, p *process, c *code) (in *instance, pooled bool, err error) {
	if p != nil {
		return p.callee(ctx, c)
	}
	in, err = c.get(ctx)
	return in, true, err
}

// endCallee ends a call begun with borrowCallee; failed says the call on
// in failed, which closes in, so that it is never pooled again.
func endCallee(p *process, c *code, in *instance, pooled, failed bool) {
	if failed {
		in.close(0) // before endCall, which would pool a borrowed one
	}
	switch {
	case p != nil:
		p.endCall(c, in, pooled)
	case !failed:
		c.put(in)
	}
}

// endCall ends a call begun with callee.
func (p *process) endCall(c *code, in *instance, pooled bool) {
	c.mu.Lock()
	dropOne(c.stacks, p)
	c.mu.Unlock()
	in.busy = false
	if pooled {
		c.put(in)
	}
}

// abiCallBytes is call_bytes: an external bytes call mod:fn(in) through the
// export table, from a guest.
func (h *Host) abiCallBytes(ctx context.Context, m api.Module, stack []uint64) {
	p := procFrom(ctx)
	mod, ok1 := readName(m, stack[0], stack[1])
	fn, ok2 := readName(m, stack[2], stack[3])
	if int32(stack[5]) > int32(h.cfg.maxMessageSize) {
		stack[0] = i32Code(abiBadArgument)
		return
	}
	data, ok3 := read(m, stack[4], stack[5])
	outPtr, outCap, ok4 := buffer(m, stack[6], stack[7])
	if !ok1 || !ok2 || !ok3 || !ok4 || !modules.ValidName(mod) {
		stack[0] = i32Code(abiBadArgument)
		return
	}
	ctx, ok := nest(ctx)
	if !ok {
		exit(p, Limit, callErr(mod, fn, 0, Limit, errNesting))
	}
	isBytes := func(t *target) bool { return t.sig.Equal(bytesSig) && t.code.alloc >= 0 && t.code.ver.Memory }
	t, entered := h.enterName(ctx, mod, fn, isBytes)
	if t == nil {
		stack[0] = i32Code(abiUndef)
		return
	}
	if !entered {
		stack[0] = i32Code(abiBadArity)
		return
	}
	c := t.code
	out, err := h.guestBytesCall(ctx, p, t, data)
	c.gate.Leave()
	if err != nil {
		if p != nil && p.killed() {
			exit(p, Killed, nil)
		}
		exit(p, Trap, err)
	}
	if len(out) <= int(outCap) {
		m.Memory().Write(outPtr, out)
	}
	stack[0] = i32Code(int32(len(out)))
}

// guestBytesCall runs a bytes call for a guest: on the calling process's
// instance of the callee's version, or on a pooled one for a Go call.
func (h *Host) guestBytesCall(ctx context.Context, p *process, t *target, data []byte) ([]byte, error) {
	c := t.code
	if p == nil {
		in, err := c.get(ctx)
		if err != nil {
			return nil, err
		}
		out, err := c.callBytesOn(ctx, t, in, data)
		c.put(in)
		return out, err
	}
	in, pooled, err := p.callee(ctx, c)
	if err != nil {
		return nil, err
	}
	a := accountFrom(ctx, p)
	out, over, err := in.callBytes(ctx, p, a, t.idx, data, h.cfg.maxMessageSize)
	var be *bytesError
	if err != nil && !errors.As(err, &be) {
		in.close(0) // before endCall, which would pool a borrowed one
	}
	p.endCall(c, in, pooled)
	if err == nil && over {
		exit(p, Limit, a.exceeded())
	}
	if err != nil {
		return nil, callErr(c.ver.Name, c.ver.Exports[t.idx].Name, c.ver.Vsn, reasonOf(err), err)
	}
	return out, nil
}

// logLine writes one guest log line, prefixed by module, vsn and pid. c
// or p may be nil (a line of the host's own, or from a Go call).
func (h *Host) logLine(c *code, p *process, line []byte) {
	n := min(len(line), MaxLogLine) + logPrefixMax
	if c != nil { // a guest's line
		ok, dropped := h.logRate.take(n)
		if !ok {
			h.stats.logDropped.Add(1)
			return // over the rate: dropped before formatting (lograte.go)
		}
		if dropped > 0 {
			h.logLine(nil, nil, h.logRate.notice(dropped))
		}
	}
	if !h.logOut.Room(n) {
		return // the queue is full: dropped (and counted) before formatting
	}
	// One buffer of the line's final size, handed to the queue as it is.
	b := make([]byte, 0, n+1)
	if c != nil {
		b = append(b, c.ver.Name...)
		b = append(b, " v"...)
		b = strconv.AppendUint(b, c.ver.Vsn, 10)
	} else {
		b = append(b, "wasmhot"...)
	}
	b = append(b, ' ')
	if p != nil {
		b = append(b, p.id.String()...)
	} else {
		b = append(b, '-')
	}
	b = append(b, ": "...)
	if len(line) > MaxLogLine {
		b = append(b, line[:MaxLogLine]...)
		b = fmt.Appendf(b, "... (%d bytes)", len(line))
	} else {
		b = append(b, line...)
	}
	b = append(b, '\n')
	h.logOut.Put(b)
}

// MaxLogLine is the longest guest log line kept whole, in bytes; a longer
// one is cut there and says how long it was.
const MaxLogLine = 16 << 10

// logPrefixMax bounds what logLine adds to a line: module, version, pid
// and the note of a cut.
const logPrefixMax = 64 + 20 + 36 + 32

// logQueueBytes bounds the log lines waiting for a slow log output; past
// it, lines are dropped and counted (internal/logbuf).
const logQueueBytes = 1 << 20

// instanceOf returns the wasmhot instance behind a wazero module.
func (h *Host) instanceOf(m api.Module) *instance {
	if m == nil {
		return nil
	}
	if v, ok := h.insts.Load(m); ok {
		return v.(*instance)
	}
	return nil
}
