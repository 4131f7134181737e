package host

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasmhot/wasmhot/exports"
	"github.com/wasmhot/wasmhot/modules"
)

// extSlot is an export-table slot as a guest import sees it: the slot and
// the signature the importer declared.
type extSlot struct {
	slot *exports.Slot[target] // pinned while the id is used
	sig  modules.Signature
	key  extKey
	refs int // the versions using the id (under extSlots.mu)
	// checked is the last target whose signature matched sig.
	checked atomic.Pointer[target]
}

type extKey struct{ module, function, sig string }

// extSlots numbers the (module, function, signature) triples that guests
// import, so that a stub can name its target with an i32. Lookups by id are
// lock-free. An id lives while a version uses it (counted): then its
// export-table slot is pinned. An id no version uses goes to the next new
// triple.
type extSlots struct {
	mu   sync.Mutex
	ids  map[extKey]uint32
	free []uint32
	tab  atomic.Pointer[[]*extSlot]
}

// id returns the id of imp, counting one more use; c.dropExt gives it
// back.
func (e *extSlots) id(h *Host, imp modules.Import) uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := extKey{imp.Module, imp.Name, imp.Signature.String()}
	if id, ok := e.ids[k]; ok {
		(*e.tab.Load())[id].refs++
		return id
	}
	if e.ids == nil {
		e.ids = map[extKey]uint32{}
	}
	var tab []*extSlot
	if p := e.tab.Load(); p != nil {
		tab = *p
	}
	es := &extSlot{slot: h.exports.ResolvePinned(imp.Module, imp.Name), sig: imp.Signature, key: k, refs: 1}
	var id uint32
	if n := len(e.free); n > 0 {
		id = e.free[n-1]
		e.free = e.free[:n-1]
		tab = slices.Clone(tab)
		tab[id] = es
	} else {
		id = uint32(len(tab))
		tab = append(tab[:len(tab):len(tab)], es)
	}
	e.tab.Store(&tab)
	e.ids[k] = id
	return id
}

// drop gives back one use of each id, and returns the modules whose slots
// it unpinned (for a sweep).
func (e *extSlots) drop(h *Host, ids []uint32) (unpinned []string) {
	if len(ids) == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	tab := *e.tab.Load()
	for _, id := range ids {
		es := tab[id]
		if es.refs--; es.refs > 0 {
			continue
		}
		delete(e.ids, es.key)
		e.free = append(e.free, id)
		h.exports.Unpin(es.slot)
		unpinned = append(unpinned, es.slot.Module)
	}
	return unpinned
}

func (e *extSlots) get(id uint32) *extSlot {
	tab := *e.tab.Load()
	return tab[id]
}

// stub is the compiled stub module standing in for one imported guest module.
type stub struct {
	module   string
	compiled wazero.CompiledModule
}

var stubConfig = wazero.NewModuleConfig().WithName("").WithStartFunctions()

// link compiles the stubs for c's imports of guest modules, and numbers
// the external calls the rewrite compiled into c.
func (c *code) link(ctx context.Context) error {
	if err := c.checkHostImports(); err != nil {
		return err
	}
	if rw := c.ver.Rewrite; rw != nil {
		for _, ri := range rw.Imports {
			for _, imp := range c.ver.Imports {
				if imp.Module == ri.Module && imp.Name == ri.Name {
					id := c.h.ext.id(c.h, imp)
					c.extIDs = append(c.extIDs, id)
					c.linkSlots = append(c.linkSlots, id)
					break
				}
			}
		}
	}
	byModule := map[string][]stubFunc{}
	seen := map[[2]string]bool{}
	for _, imp := range c.ver.Imports {
		if imp.Module == ABIModule || imp.Module == wasiModule || seen[[2]string{imp.Module, imp.Name}] ||
			c.h.cfg.hostModule(imp.Module) != nil { // bound to the host module itself
			continue
		}
		seen[[2]string{imp.Module, imp.Name}] = true
		id := c.h.ext.id(c.h, imp)
		c.extIDs = append(c.extIDs, id)
		byModule[imp.Module] = append(byModule[imp.Module], stubFunc{
			name: imp.Name, sig: imp.Signature, slot: id,
		})
	}
	names := make([]string, 0, len(byModule))
	for m := range byModule {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		enc := encodeStub
		if c.h.cfg.mode == Sandboxed {
			enc = encodeLinkStub
		}
		compiled, err := c.h.r.CompileModule(ctx, enc(byModule[m]))
		if err != nil {
			for _, s := range c.stubs {
				_ = s.compiled.Close(ctx)
			}
			return fmt.Errorf("module[%s]: link imports from %s: %w", c.ver.Name, m, err)
		}
		c.stubs = append(c.stubs, stub{module: m, compiled: compiled})
	}
	return nil
}

// closeStubs releases the compiled stubs, once. c.stubs itself stays: calls
// read it without a lock to see whether c makes external calls.
func (c *code) closeStubs(ctx context.Context) {
	c.stubsClosed.Do(func() {
		for _, s := range c.stubs {
			_ = s.compiled.Close(ctx)
		}
	})
}

// linkContext instantiates c's stubs for one instance and returns the ctx
// that resolves c's imports of guest modules to them.
func (c *code) linkContext(ctx context.Context) (context.Context, []api.Module, error) {
	if len(c.stubs) == 0 {
		return ctx, nil, nil
	}
	mods := make([]api.Module, 0, len(c.stubs))
	byName := make(map[string]api.Module, len(c.stubs))
	for _, s := range c.stubs {
		m, err := c.h.r.InstantiateModule(ctx, s.compiled, stubConfig)
		if err != nil {
			for _, m := range mods {
				_ = m.Close(ctx)
			}
			return nil, nil, err
		}
		mods = append(mods, m)
		byName[s.module] = m
	}
	return experimental.WithImportResolver(ctx, func(name string) api.Module { return byName[name] }), mods, nil
}

// instantiateExt instantiates the dispatch host module the stubs import.
func (h *Host) instantiateExt(ctx context.Context) error {
	b := h.r.NewHostModuleBuilder(extModule)
	for n := 0; n <= maxExtParams; n++ {
		params := make([]api.ValueType, n+1)
		params[0] = api.ValueTypeI32
		for i := 1; i <= n; i++ {
			params[i] = api.ValueTypeI64
		}
		for _, result := range []bool{true, false} {
			var results []api.ValueType
			if result {
				results = []api.ValueType{api.ValueTypeI64}
			}
			n, result := n, result
			b = b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
				h.dispatch(ctx, stack, n, result)
			}), params, results).Export(dispatchName(n, result))
		}
	}
	b = b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(h.linkResolve),
		[]api.ValueType{api.ValueTypeI32}, []api.ValueType{funcref}).Export("resolve")
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("host: instantiate %s: %w", extModule, err)
	}
	return nil
}

// dispatch is an external call from a guest: stack[0] is the ext slot id,
// stack[1:1+n] the arguments as i64s. It calls the callee's current
// version, on the calling process's instance of it (or a pooled one for a
// Go call). Undef, bad arity and traps end the calling process
// with that reason, or fail the Go call.
func (h *Host) dispatch(ctx context.Context, stack []uint64, n int, result bool) {
	es := h.ext.get(uint32(stack[0]))
	p := procFrom(ctx)
	defer h.recoverHost(p, "ext")
	if p != nil {
		p.enterHost()
		defer p.leaveHost()
		if p.killed() { // the kill lands at the next host call
			exit(p, Killed, nil)
		}
		p.hostYield()
	}
	ctx, ok := nest(ctx)
	if !ok {
		extFail(p, Limit, callErr(es.slot.Module, es.slot.Function, 0, Limit, errNesting))
	}
	t := h.enterExt(ctx, p, es)
	c := t.code
	in, pooled, err := borrowCallee(ctx, p, c)
	if err != nil {
		c.gate.Leave()
		extFail(p, Trap, err)
	}
	buf := in.scratch[:max(n, 1)]
	copy(buf, stack[1:1+n])
	a := accountFrom(ctx, p)
	over, err := in.callMetered(ctx, p, a, in.fn(t.idx), buf)
	res := buf[0]
	endCallee(p, c, in, pooled, err != nil)
	c.gate.Leave()
	if err != nil {
		if p != nil && p.killed() {
			exit(p, Killed, nil)
		}
		r := reasonOf(err)
		extFail(p, r, callErr(c.ver.Name, es.slot.Function, c.ver.Vsn, r, err))
	}
	if over {
		extFail(p, Limit, callErr(c.ver.Name, es.slot.Function, c.ver.Vsn, Limit, a.exceeded()))
	}
	if result {
		stack[0] = res
	}
}

// maxHostNesting bounds how deeply calls through the host nest on one
// goroutine: trusted mode's external calls and bytes calls. Each level
// takes Go stack and a wazero call stack; a guest calling itself without
// end would otherwise overflow the Go stack, which ends the Go program.
// (Sandboxed mode's external calls stay in Wasm, where wazero's own stack
// limit traps.)
const maxHostNesting = 1000

var errNesting = fmt.Errorf("%w: calls through the host nested deeper than %d", ErrLimit, maxHostNesting)

type ctxNestKey struct{}

// nest returns ctx for a call one level deeper through the host, or false
// past maxHostNesting.
func nest(ctx context.Context) (context.Context, bool) {
	d, _ := ctx.Value(ctxNestKey{}).(int)
	if d >= maxHostNesting {
		return ctx, false
	}
	return context.WithValue(ctx, ctxNestKey{}, d+1), true
}

// enterCurrent resolves an external call in the current generation of the
// export table (loading the module from the code path if needed) and
// enters the target version's gate, when ok accepts the target; a gate
// closed by a purge since the lookup sends it to look again. It returns
// nil when the name is undef, and entered false, with the target, when ok
// refuses it.
func (h *Host) enterCurrent(ctx context.Context, slot *exports.Slot[target], ok func(*target) bool) (t *target, entered bool) {
	for {
		t = h.resolve(ctx, slot)
		if t == nil || !ok(t) {
			return t, false
		}
		if t.code.gate.Enter() {
			return t, true
		}
	}
}

// enterName is enterCurrent for a call by name (spawn, a bytes call from a
// guest): a name nothing exports, even after a load from the code path,
// is undef without making a slot.
func (h *Host) enterName(ctx context.Context, module, function string, ok func(*target) bool) (t *target, entered bool) {
	slot := h.findSlotLoading(ctx, module, function)
	if slot == nil {
		return nil, false
	}
	return h.enterCurrent(ctx, slot, ok)
}

// enterExt enters the current target of an external call through es (see
// enterCurrent), or ends the call: undef, or bad arity when the target's
// signature is not the one imported.
func (h *Host) enterExt(ctx context.Context, p *process, es *extSlot) *target {
	t, entered := h.enterCurrent(ctx, es.slot, es.accepts)
	switch {
	case t == nil:
		extFail(p, Undef, undefErr(es.slot.Module, es.slot.Function))
	case !entered:
		extFail(p, BadArity, badArity(es.slot.Module, es.slot.Function, "imported as %s, exported as %s", es.sig, t.sig))
	}
	return t
}

// extFail ends an external call that cannot go on: the calling process
// exits with reason (the first reason set wins, so a failure deep in a call
// chain is what the process reports), or, in a Go call, the call fails
// with err.
func extFail(p *process, reason Reason, err error) {
	if p != nil {
		exit(p, reason, err)
	}
	panic(err) // keeps the sentinel (ErrUndef, ErrBadArity...) for errors.Is
}
