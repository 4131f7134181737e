package host

import (
	"github.com/wasmhot/wasmhot/internal/wasmbin"

	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmhot/wasmhot/rewrite"
)

// Link tables: external calls compiled into the guest (sandboxed mode).
//
// A sandboxed guest's imports of a guest module M are bound, per instance,
// to a link module: a small Wasm module that exports the imported
// functions, with their types. Each of its functions compares the link
// epoch (an i64 global the host bumps whenever the export table changes)
// with the epoch its table was filled in; on a difference it resets its
// table, whose entries then point at lazy resolvers. It then makes a
// call_indirect through entry k of its table. A lazy resolver calls the
// host's resolve (wasmhot:ext.resolve) with the slot of M:fn: the host
// looks the slot up in the export table's current generation, picks the
// caller's instance of that version (one per version per process), and
// returns the funcref of that instance's entry point for fn (the rewrite
// injects the entry points, see package rewrite). The resolver stores it in
// the table and calls it. Until the next epoch, the call costs an epoch
// compare and a call_indirect; no host code runs.

// linkModule is the module of the epoch global; like extModule, not a
// valid guest module name.
const linkModule = "wasmhot:link"

// funcref is the value type of a function reference.
const funcref = api.ValueType(0x70)

// epochModule is (module (global (export "epoch") (mut i64) (i64.const 0))).
var epochModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x06, 0x06, 0x01, 0x7e, 0x01, 0x42, 0x00, 0x0b, // global section
	0x07, 0x09, 0x01, 0x05, 'e', 'p', 'o', 'c', 'h', 0x03, 0x00, // export section
}

// seenGlobal is the link module's export of the epoch its table was filled
// in; the host sets it to -1 to make the table resolve again.
const seenGlobal = "seen"

// instantiateLink instantiates the epoch module and the resolve function.
func (h *Host) instantiateLink(ctx context.Context) error {
	m, err := h.r.InstantiateWithConfig(ctx, epochModule, stubConfig.WithName(linkModule))
	if err != nil {
		return fmt.Errorf("host: instantiate %s: %w", linkModule, err)
	}
	h.epoch = m.ExportedGlobal("epoch").(api.MutableGlobal)
	return nil
}

// bumpEpoch makes every link table resolve again at its next call. It
// runs after each change of the export table, under codeMu: it sets the
// shared epoch the link modules read and the own copy of every instance
// with external calls compiled into it (a global of the instance itself
// costs less to read than an imported one). Instances without external
// calls are not visited, so a switch costs nothing per idle module.
func (h *Host) bumpEpoch() {
	if h.epoch == nil {
		return
	}
	h.epochMu.Lock()
	defer h.epochMu.Unlock()
	h.epochN++
	h.epoch.Set(uint64(h.epochN))
	for in := range h.callers {
		in.epoch.Set(uint64(h.epochN))
	}
}

// register makes a new instance known (instanceOf) with the current epoch.
// Under epochMu, so that a concurrent bump either sets the new instance's
// epoch or happens before the instance reads it.
func (h *Host) register(in *instance) {
	h.epochMu.Lock()
	defer h.epochMu.Unlock()
	h.insts.Store(in.mod, in)
	for _, s := range in.stubs {
		h.insts.Store(s, in) // a link module's resolves are its owner's
	}
	if in.epoch != nil && len(in.code.linkSlots) > 0 {
		in.epoch.Set(uint64(h.epochN))
		h.callers[in] = struct{}{}
	}
}

// unregister undoes register.
func (h *Host) unregister(in *instance) {
	h.epochMu.Lock()
	defer h.epochMu.Unlock()
	h.insts.Delete(in.mod)
	for _, s := range in.stubs {
		h.insts.Delete(s)
	}
	delete(h.callers, in)
}

// encodeLinkStub builds the link module of fns: resolve is function 0,
// then f_k and its lazy resolver for each k; the epoch is global 0, the
// epoch seen global 1.
func encodeLinkStub(fns []stubFunc) []byte {
	n := uint32(len(fns))
	types := [][]byte{wasmbin.FuncType([]api.ValueType{api.ValueTypeI32}, []api.ValueType{funcref})}
	for _, f := range fns {
		types = append(types, wasmbin.FuncType(f.sig.Params, f.sig.Results))
	}
	out := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	out = wasmbin.AppendSection(out, 1, wasmbin.Vec(types))

	var resolve, epoch []byte
	resolve = wasmbin.AppendName(wasmbin.AppendName(resolve, extModule), "resolve")
	resolve = append(resolve, 0x00, 0x00) // func, type 0
	epoch = wasmbin.AppendName(wasmbin.AppendName(epoch, linkModule), "epoch")
	epoch = append(epoch, 0x03, 0x7e, 0x01) // global mut i64
	out = wasmbin.AppendSection(out, 2, wasmbin.Vec([][]byte{resolve, epoch}))

	var funcs [][]byte
	for k := range fns {
		t := wasmbin.AppendU32(nil, uint32(1+k))
		funcs = append(funcs, t, t) // f_k, lazy_k
	}
	out = wasmbin.AppendSection(out, 3, wasmbin.Vec(funcs))
	out = wasmbin.AppendSection(out, 4, wasmbin.Vec([][]byte{wasmbin.AppendU32([]byte{funcref, 0x00}, n)}))
	out = wasmbin.AppendSection(out, 6, wasmbin.Vec([][]byte{{0x7e, 0x01, 0x42, 0x7f, 0x0b}})) // seen: mut i64 -1

	var exports [][]byte
	for k, f := range fns {
		e := wasmbin.AppendName(nil, f.name)
		exports = append(exports, wasmbin.AppendU32(append(e, 0x00), uint32(1+2*k)))
	}
	exports = append(exports, append(wasmbin.AppendName(nil, seenGlobal), 0x03, 0x01))
	out = wasmbin.AppendSection(out, 7, wasmbin.Vec(exports))

	elem := []byte{0x01, 0x00} // passive, elemkind funcref
	elem = wasmbin.AppendU32(elem, n)
	for k := range fns {
		elem = wasmbin.AppendU32(elem, uint32(2+2*k))
	}
	out = wasmbin.AppendSection(out, 9, wasmbin.Vec([][]byte{elem}))

	call := func(b []byte, k int, f stubFunc) []byte {
		for i := range f.sig.Params {
			b = wasmbin.AppendU32(append(b, 0x20), uint32(i)) // local.get i
		}
		b = wasmbin.AppendS64(append(b, 0x41), int64(k))    // i32.const k
		b = wasmbin.AppendU32(append(b, 0x11), uint32(1+k)) // call_indirect (type 1+k)
		return append(b, 0x00, 0x0b)                        // table 0; end
	}
	var bodies [][]byte
	for k, f := range fns {
		// f_k: on a new epoch, reset the table to the lazy resolvers.
		b := []byte{0x00, 0x23, 0x00, 0x23, 0x01, 0x52, 0x04, 0x40} // global.get epoch, seen; i64.ne; if
		b = append(b, 0x41, 0x00, 0x41, 0x00, 0x41)                 // i32.const 0, 0, n
		b = wasmbin.AppendS64(b, int64(n))
		b = append(b, 0xfc, 0x0c, 0x00, 0x00)       // table.init elem 0 table 0
		b = append(b, 0x23, 0x00, 0x24, 0x01, 0x0b) // seen = epoch; end
		b = call(b, k, f)
		// lazy_k: table[k] = resolve(slot); then call through it.
		l := wasmbin.AppendS64([]byte{0x00, 0x41}, int64(k))
		l = wasmbin.AppendS64(append(l, 0x41), int64(int32(f.slot)))
		l = append(l, 0x10, 0x00, 0x26, 0x00) // call resolve; table.set 0
		l = call(l, k, f)
		bodies = append(bodies, wasmbin.AppendU32(nil, uint32(len(b))), b, wasmbin.AppendU32(nil, uint32(len(l))), l)
	}
	code := wasmbin.AppendU32(nil, uint32(2*len(fns)))
	for _, b := range bodies {
		code = append(code, b...)
	}
	return wasmbin.AppendSection(out, 10, code)
}

// linkResolve is wasmhot:ext.resolve, called by a lazy resolver of the
// link module m: stack[0] is the ext slot id; the result is the funcref of
// the entry point of the callee's current version, in the caller's
// family. Undef and bad arity end the calling process, or fail the Go
// call, as a call through the host does.
func (h *Host) linkResolve(ctx context.Context, m api.Module, stack []uint64) {
	stack[0] = h.resolveLink(ctx, m, uint32(stack[0]))
}

// inlineResolve is wasmhot:rt.resolve, called by a lazy resolver the
// rewrite compiled into the guest m: stack[0] is the link table entry.
func (h *Host) inlineResolve(ctx context.Context, m api.Module, stack []uint64) {
	caller := h.instanceOf(m)
	if caller == nil {
		caller = pendingIn(ctx) // its start function runs
	}
	k := uint32(stack[0])
	if caller == nil || k >= uint32(len(caller.code.linkSlots)) {
		p := procFrom(ctx)
		defer h.recoverHost(p, "resolve")
		extFail(p, Trap, fmt.Errorf("resolve: no link entry %d: %w", k, ErrTrap))
	}
	stack[0] = h.resolveLink(ctx, m, caller.code.linkSlots[k])
}

// resolveLink resolves ext slot id for the link table of the caller m (an
// instance, or a link module standing for one) and returns the funcref of
// the entry point.
func (h *Host) resolveLink(ctx context.Context, m api.Module, id uint32) (ref uint64) {
	p := procFrom(ctx)
	defer h.recoverHost(p, "ext")
	if p != nil {
		p.enterHost()
		defer p.leaveHost()
		if p.killed() {
			exit(p, Killed, nil)
		}
	}
	caller := h.instanceOf(m)
	if caller == nil {
		caller = pendingIn(ctx) // a start function's call, through a link module
	}
	es := h.ext.get(id)
	if caller == nil || caller.fam == nil {
		extFail(p, Killed, callErr(es.slot.Module, es.slot.Function, 0, Killed, fmt.Errorf("the calling instance is closed: %w", ErrPurged)))
	}
	t := h.enterExt(ctx, p, es)
	c := t.code
	fam := caller.fam
	in, err := fam.linked(ctx, c)
	if err == nil {
		ref, err = in.entry(ctx, t)
	}
	if err != nil {
		c.gate.Leave()
		extFail(p, Trap, callErr(c.ver.Name, es.slot.Function, c.ver.Vsn, Trap, err))
	}
	if fam.proc != nil {
		c.gate.Leave() // a process's calls are followed by depth, not the gate
	} else {
		fam.tickets = append(fam.tickets, c) // a Go call holds the gate to its end
	}
	return ref
}

// accepts reports whether t has the signature the importer declared.
func (es *extSlot) accepts(t *target) bool {
	if es.checked.Load() == t {
		return true
	}
	if !t.sig.Equal(es.sig) {
		return false
	}
	es.checked.Store(t)
	return true
}

// entry returns the funcref of in's entry point for t.
func (in *instance) entry(ctx context.Context, t *target) (uint64, error) {
	if in.ref == nil && t.entry >= 0 {
		in.ref = in.mod.ExportedFunction(rewrite.RefFunction)
	}
	if in.ref == nil || t.entry < 0 {
		return 0, fmt.Errorf("module[%s] vsn[%d]: no link entry for %s: %w", in.code.ver.Name, in.code.ver.Vsn, in.code.ver.Exports[t.idx].Name, ErrTrap)
	}
	stack := [1]uint64{uint64(t.entry)}
	if err := in.ref.CallWithStack(ctx, stack[:]); err != nil {
		return 0, err
	}
	return stack[0], nil
}

// family is a caller's set of linked instances: one instance per version
// it calls into, shared by its external calls through link tables and
// through the host. A process has one for its life; a pooled instance of a
// Go call is the root of one, kept while it is pooled.
type family struct {
	proc *process  // nil: a Go call's
	root *instance // a Go call's: the pooled instance
	// callees is only used by the owner's goroutine, but a pooled
	// instance's family may be closed by a purge while the instance idles.
	mu      sync.Mutex
	callees map[*code]*instance
	// linkedN is len(callees), for the call path to read without the lock.
	linkedN atomic.Int32
	// tickets are the gates a Go call entered in its resolves, left when
	// the call ends (unlink).
	tickets []*code
	// overBudget is set when the memory budget refused to grow the memory
	// of one of the family's instances: a trap that follows is reported
	// as a limit.
	overBudget atomic.Bool
	// mems are the mapped memories of the family's instances (memory.go),
	// kept reachable while the family's goroutine may run in them.
	mems map[*linearMemory]struct{} // under mu
	// ownerDone is set by a process's goroutine once it runs no Wasm any
	// more, before it closes its instances and unmaps their memories
	// (unmapFreed): a memory freed then need not be discarded first.
	ownerDone atomic.Bool
}

func (f *family) keepMem(m *linearMemory) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mems == nil {
		f.mems = map[*linearMemory]struct{}{}
	}
	f.mems[m] = struct{}{}
}

func (f *family) dropMem(m *linearMemory) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.mems, m)
}

// unmapFreed unmaps the family's memories whose instances are closed.
// The caller knows that the family's goroutine runs no Wasm any more (a
// process that exited).
func (f *family) unmapFreed() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for m := range f.mems {
		if m.freed.Load() {
			m.mapped.unmap()
			delete(f.mems, m)
		}
	}
}

// linked returns the family's instance of c, making it when needed. The
// caller holds c's gate.
func (f *family) linked(ctx context.Context, c *code) (*instance, error) {
	f.mu.Lock()
	in := f.callees[c]
	f.mu.Unlock()
	if in != nil && !isClosed(in) {
		return in, nil
	}
	in, err := c.instantiate(ctx, f)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prune()
	if f.callees == nil {
		f.callees = map[*code]*instance{}
	}
	f.callees[c] = in
	f.linkedN.Store(int32(len(f.callees)))
	if f.proc != nil {
		c.mu.Lock()
		c.linkers[f.proc] = in
		c.mu.Unlock()
	}
	return in, nil
}

// prune forgets the instances closed since they were linked (their version
// was purged, or an error closed them). The caller holds f.mu.
func (f *family) prune() {
	for c, in := range f.callees {
		if isClosed(in) {
			f.drop(c)
		}
	}
}

// drop forgets the family's instance of c. The caller holds f.mu.
func (f *family) drop(c *code) {
	delete(f.callees, c)
	f.linkedN.Store(int32(len(f.callees)))
	if f.proc != nil {
		c.mu.Lock()
		delete(c.linkers, f.proc)
		c.mu.Unlock()
	}
}

// close closes every instance of the family.
func (f *family) close() {
	f.mu.Lock()
	var all []*instance
	for c, in := range f.callees {
		all = append(all, in)
		f.drop(c)
		if f.proc != nil { // an exiting process has no calls left anywhere
			c.mu.Lock()
			delete(c.stacks, f.proc)
			c.mu.Unlock()
		}
	}
	f.mu.Unlock()
	for _, in := range all {
		in.close(0)
	}
}

// settleFuel charges a with the fuel the family's instances used since
// their last tick.
func (f *family) settleFuel(a *account) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, in := range f.callees {
		if in.fuel != nil {
			left := int64(in.fuel.Get())
			a.charge(in.granted - left)
			in.granted = left
		}
	}
}

// unlink ends a Go call's use of its family: it leaves the gates the
// call's resolves entered and makes the link tables resolve again next
// time, so that the next call takes its own tickets.
func (f *family) unlink() {
	if len(f.tickets) == 0 {
		return
	}
	for _, c := range f.tickets {
		c.gate.Leave()
	}
	f.tickets = f.tickets[:0]
	f.resetLinks()
}

// resetLinks makes every link table of the family resolve again.
func (f *family) resetLinks() {
	if f.root != nil {
		f.root.resetLinks()
	}
	f.mu.Lock()
	for _, in := range f.callees {
		in.resetLinks()
	}
	f.mu.Unlock()
}

// releaseWaited runs at a tick of a Go call: it gives back the gate
// tickets of the versions a purge is waiting for (their gate is closed)
// in which the call has no frame (its instance's depth is 0; a tick is a
// safepoint, outside every link call's window), and makes the family's
// link tables resolve again, so that the call cannot reach those versions
// again without a new ticket. A long Go call that used a version once does
// not hold up its purge beyond its next tick.
func (f *family) releaseWaited() {
	kept := f.tickets[:0]
	released := false
	for _, c := range f.tickets {
		if c.gate.Closed() && f.depthIn(c) == 0 {
			c.gate.Leave()
			released = true
			continue
		}
		kept = append(kept, c)
	}
	f.tickets = kept
	if released {
		f.resetLinks()
	}
}

// depthIn is the depth of the family's instance of c (0: none).
func (f *family) depthIn(c *code) int32 {
	f.mu.Lock()
	in := f.callees[c]
	f.mu.Unlock()
	if in == nil {
		return 0
	}
	return in.depthNow()
}

// resetLinks makes in's link tables resolve again at their next call.
func (in *instance) resetLinks() {
	for _, g := range in.seen {
		g.Set(^uint64(0))
	}
}

// depth is the number of external calls running in in through link
// tables. It is read while the owner runs: a stale value is settled by
// the safepoint handshake in Lingering.
func (in *instance) depthNow() int32 {
	if in.depth == nil {
		return 0
	}
	return int32(uint32(in.depth.Get()))
}
