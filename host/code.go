package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasmhot/wasmhot/modules"
	"github.com/wasmhot/wasmhot/purger"
	"github.com/wasmhot/wasmhot/rewrite"
)

// exitKilled is the exit code of an instance closed by a purge or a kill.
const exitKilled = 137

// code is the runtime side of one loaded version: its call targets, its
// instances and the gate that counts calls in flight in it. It implements
// purger.Target.
type code struct {
	h           *Host
	ver         *modules.Version
	gate        purger.Gate
	targets     map[string]*target
	alloc       int // index of the "alloc" export in ver.Exports, or -1
	modCfg      wazero.ModuleConfig
	wasi        bool   // imports WASI (granted: checked at prepare)
	stubs       []stub // one per imported guest module; fixed after link
	stubsClosed sync.Once
	// charged is what the version holds of the memory budget for its
	// compiled code, given back when it is freed or discarded.
	charged atomic.Int64
	// extIDs are the ext ids link took for c, one use each, given back
	// with the budget (giveUp).
	extIDs []uint32
	// linkSlots are the ext slots of the external calls the rewrite
	// compiled into c, by link table entry (rewrite.Info.Imports).
	linkSlots []uint32

	// spares are a small lock-free pool in front of idle for Go calls. A
	// parked spare holds a ticket of the gate, which the next Go call
	// inherits: the common case then costs one atomic swap to borrow and
	// one compare-and-swap to return, instead of also entering and leaving
	// the gate and taking mu, for as many concurrent callers as there are
	// slots. Closing the gate takes the spares back (reclaimSpare).
	spares [spareSlots]atomic.Pointer[instance]

	mu    sync.Mutex
	idle  []*instance            // pooled instances for Go calls
	live  map[*instance]struct{} // every open instance of this version
	procs map[*process]int       // processes lingering here, with a count of holds
	// linkers are the processes with an instance of c in their family
	// (link tables): they linger when its depth counter is not zero.
	linkers map[*process]*instance
	// stacks counts, per process, the calls through the host into c on
	// its stack (host calls: trusted mode's external calls, bytes calls).
	stacks map[*process]int
	freed  bool
}

// target is an export table entry: one exported function of one version.
type target struct {
	code *code
	idx  int // index in code.ver.Exports and instance.fns
	sig  modules.Signature
	// entry is the function's link entry point (rewrite.Info.Entries);
	// -1 when the version has none (trusted mode).
	entry int
}

func (h *Host) newCode(v *modules.Version) *code {
	c := &code{
		h:       h,
		ver:     v,
		targets: make(map[string]*target, len(v.Exports)),
		alloc:   -1,
		live:    map[*instance]struct{}{},
		procs:   map[*process]int{},
		linkers: map[*process]*instance{},
		stacks:  map[*process]int{},
	}
	entries := map[string]int{}
	if v.Rewrite != nil {
		for i, n := range v.Rewrite.Entries {
			if _, dup := entries[n]; !dup {
				entries[n] = i
			}
		}
	}
	c.gate.OnClose(c.reclaimSpare)
	starts := []string{}
	for _, imp := range v.Imports {
		if imp.Module == wasiModule {
			c.wasi = true
		}
	}
	for i, f := range v.Exports {
		entry, ok := entries[f.Name]
		if !ok {
			entry = -1
		}
		c.targets[f.Name] = &target{code: c, idx: i, sig: f.Signature, entry: entry}
		if f.Name == "alloc" && f.Signature.Equal(allocSig) {
			c.alloc = i
		}
		if f.Name == "_initialize" && len(f.Params) == 0 && len(f.Results) == 0 {
			starts = append(starts, "_initialize")
		}
	}
	c.modCfg = wazero.NewModuleConfig().WithName("").WithStartFunctions(starts...).WithRandSource(rand.Reader)
	if c.wasi {
		c.modCfg = c.modCfg.WithSysWalltime().WithSysNanotime().WithSysNanosleep()
	}
	return c
}

var allocSig = modules.Signature{Params: []api.ValueType{api.ValueTypeI32}, Results: []api.ValueType{api.ValueTypeI32}}

// instance is one Wasm instance of a version. It is used by one goroutine at
// a time: a Go call borrowed it from the pool, or a process owns it.
type instance struct {
	code *code
	mod  api.Module
	fns  []api.Function // cached exports, by index in code.ver.Exports
	mem  api.Memory
	done chan struct{} // closed when the host closes the instance
	// stubs are the instances linking this one's imports of guest modules;
	// seen their link epochs (sandboxed mode).
	stubs []api.Module
	seen  []api.MutableGlobal
	// owner is the process the instance belongs to (nil: pooled).
	owner *process
	// fam is the family the instance is linked in: its process's, or the
	// one of the Go call's pooled instance it was linked from (for a pooled
	// instance, its own, whose root it is).
	fam *family
	// ref and depth are the injected link entries (looked up on first
	// use: an api.Function costs kilobytes) and call depth (sandboxed
	// mode).
	ref   api.Function
	depth api.Global
	// frames is the injected frame counter (sandboxed mode; fuel.go).
	frames api.Global
	// epoch is the instance's copy of the link epoch, for the external
	// calls compiled into it; the host sets it (bumpEpoch).
	epoch api.MutableGlobal
	// busy marks a process's cached callee instance while a call of the
	// process runs on it (only the owner's goroutine touches it).
	busy bool
	// fuel is the injected fuel counter (nil when the version is not
	// metered); granted is what the host last put in it.
	fuel    api.MutableGlobal
	granted int64
	yielded time.Time // the last tick of a Go call that yielded the CPU (fuel.go)
	// hostAlloc is the alloc export with a call engine of its own, for
	// the bytes results of host functions (Caller.WriteBytes).
	hostAlloc api.Function
	// scratch is the value stack of external calls made on this instance,
	// which the caller holds exclusively for the call.
	scratch [maxExtParams]uint64

	closeOnce sync.Once
	// closedIdle is set when the host closes the instance knowing that no
	// call runs in it: its linear memory may be reused (memory.go).
	closedIdle atomic.Bool
}

func (in *instance) fn(idx int) api.Function {
	f := in.fns[idx]
	if f == nil {
		f = in.mod.ExportedFunction(in.code.ver.Exports[idx].Name)
		in.fns[idx] = f
	}
	return f
}

// instantiate makes a new instance in family fam: a process's, or a Go
// call's (the family of the pooled instance it linked from); nil makes the
// instance the root of a family of its own (a pooled instance). The caller
// must hold the gate.
func (c *code) instantiate(ctx context.Context, fam *family) (_ *instance, err error) {
	if err := c.h.beginOp(); err != nil {
		return nil, err
	}
	defer c.h.endOp()
	defer func() { err = c.h.closedErr(err) }()
	defer c.h.recoverClosed(&err)
	in := &instance{code: c, done: make(chan struct{}), fam: fam}
	if fam == nil {
		in.fam = &family{root: in}
	} else {
		in.owner = fam.proc
	}
	cfg := c.modCfg
	if c.wasi {
		out := &stdio{in: in}
		cfg = cfg.WithStdout(out).WithStderr(out)
	}
	if need := max(c.ver.MemoryMin, recycledPageBytes); !c.h.mem.fits(int64(need)) {
		c.h.mem.refused.Add(1)
		return nil, fmt.Errorf("module[%s] vsn[%d]: instantiate: %w: memory budget of %d bytes used up (%d in use)", c.ver.Name, c.ver.Vsn, ErrLimit, c.h.mem.limit, c.h.mem.used.Load())
	}
	lctx, stubs, err := c.linkContext(ctx)
	var mod api.Module
	if err == nil {
		// A start function may make external calls before the instance is
		// registered: its resolves find it in the ctx. It runs Wasm, so the
		// process on this goroutine leaves host code meanwhile.
		lctx = context.WithValue(lctx, ctxPendingKey{}, in)
		lctx = experimental.WithMemoryAllocator(lctx, memoryAllocator(in))
		q := procFrom(ctx)
		if q != nil {
			q.leaveHost()
		}
		mod, err = c.h.r.InstantiateModule(lctx, c.ver.Compiled, cfg)
		if q != nil {
			q.enterHost()
		}
		if err != nil {
			for _, s := range stubs {
				_ = s.Close(ctx)
			}
		}
	}
	if err != nil {
		c.mu.Lock()
		freed := c.freed
		c.mu.Unlock()
		if freed { // the purge closed the compiled code under us
			return nil, fmt.Errorf("module[%s] vsn[%d]: instantiate: %w: %w", c.ver.Name, c.ver.Vsn, ErrPurged, err)
		}
		return nil, fmt.Errorf("module[%s] vsn[%d]: instantiate: %w: %w", c.ver.Name, c.ver.Vsn, ErrTrap, err)
	}
	in.mod = mod
	if g, ok := mod.ExportedGlobal(rewrite.FuelGlobal).(api.MutableGlobal); ok {
		in.fuel = g
		in.granted = int64(g.Get())
	}
	in.depth = mod.ExportedGlobal(rewrite.DepthGlobal)
	in.frames = mod.ExportedGlobal(rewrite.FramesGlobal)
	if g, ok := mod.ExportedGlobal(rewrite.SeenGlobal).(api.MutableGlobal); ok {
		in.seen = append(in.seen, g)
	}
	in.epoch, _ = mod.ExportedGlobal(rewrite.EpochGlobal).(api.MutableGlobal)
	for _, s := range stubs {
		if g, ok := s.ExportedGlobal(seenGlobal).(api.MutableGlobal); ok {
			in.seen = append(in.seen, g)
		}
	}
	in.fns = make([]api.Function, len(c.ver.Exports))
	in.mem = mod.Memory()
	in.stubs = stubs
	c.mu.Lock()
	if c.freed {
		c.mu.Unlock()
		in.close(exitKilled)
		return nil, fmt.Errorf("module[%s] vsn[%d]: %w", c.ver.Name, c.ver.Vsn, ErrPurged)
	}
	c.live[in] = struct{}{}
	c.h.register(in) // under c.mu: a Free that follows closes it, registered
	c.mu.Unlock()
	return in, nil
}

type ctxPendingKey struct{}

// pendingIn returns the instance whose start function runs on ctx, if
// any: a link resolve from it comes before the instance is registered.
func pendingIn(ctx context.Context) *instance {
	in, _ := ctx.Value(ctxPendingKey{}).(*instance)
	return in
}

// close closes the instance: running Wasm stops (sandboxed mode) and host
// functions blocked on behalf of it wake up.
func (in *instance) close(exitCode uint32) {
	in.closeOnce.Do(func() {
		close(in.done)
		_ = in.mod.CloseWithExitCode(context.Background(), exitCode)
		c := in.code
		for _, s := range in.stubs {
			_ = s.Close(context.Background())
		}
		c.h.unregister(in)
		if f := in.fam; f != nil && f.root == in {
			f.close() // a pooled instance's family goes with it
		}
		c.mu.Lock()
		delete(c.live, in)
		c.mu.Unlock()
	})
}

// spareSlots is the number of parked instances a version keeps for Go
// calls without taking its lock.
const spareSlots = 8

// takeSpare takes a parked spare, with its gate ticket, or returns nil.
func (c *code) takeSpare() *instance {
	for i := range c.spares {
		if c.spares[i].Load() != nil {
			if in := c.spares[i].Swap(nil); in != nil {
				return in
			}
		}
	}
	return nil
}

// parkSpare parks in, with the caller's gate ticket, in a free slot; it
// reports false when every slot is taken.
func (c *code) parkSpare(in *instance) bool {
	for i := range c.spares {
		if c.spares[i].Load() == nil && c.spares[i].CompareAndSwap(nil, in) {
			return true
		}
	}
	return false
}

// closeIdle closes an instance that no call runs in (pooled, or just
// given back): its memory is recycled.
func (in *instance) closeIdle() {
	in.closedIdle.Store(true)
	in.close(0)
}

// errGateClosed: lend found the version purged; look up the current one.
var errGateClosed = errors.New("host: version closed")

// lend admits a Go call to c and lends it an instance: a spare, whose
// gate ticket the call inherits, or one from the idle list or a new one,
// after entering the gate. It fails with errGateClosed when c is being
// purged. End the call with giveBack.
func (c *code) lend(ctx context.Context) (*instance, error) {
	if in := c.takeSpare(); in != nil {
		if !c.gate.Closed() {
			return in, nil
		}
		c.putIdle(in)
		c.gate.Leave()
		return nil, errGateClosed
	}
	if !c.gate.Enter() {
		return nil, errGateClosed
	}
	in, err := c.get(ctx)
	if err != nil {
		c.gate.Leave()
		return nil, err
	}
	return in, nil
}

// giveBack ends a Go call begun with lend: the instance becomes a spare
// with the call's gate ticket, or goes to the idle list and the ticket is
// returned. A closed instance is dropped.
func (c *code) giveBack(in *instance) {
	in.fam.unlink()
	if in.mod.IsClosed() {
		in.close(0)
		c.gate.Leave()
		return
	}
	if c.parkSpare(in) {
		if c.gate.Closed() { // a purge began: it may have missed the spare
			c.reclaimSpare()
		}
		return
	}
	c.putIdle(in)
	c.gate.Leave()
}

// reclaimSpare takes the parked spares back and returns their gate
// tickets. The gate calls it when it closes, so that a purge does not wait
// for an idle instance.
func (c *code) reclaimSpare() {
	for in := c.takeSpare(); in != nil; in = c.takeSpare() {
		c.putIdle(in)
		c.gate.Leave()
	}
}

// inFlight is the number of calls running in c (the parked spares'
// tickets are not calls).
func (c *code) inFlight() int64 {
	n := c.gate.InFlight()
	for i := range c.spares {
		if c.spares[i].Load() != nil {
			n--
		}
	}
	return max(n, 0)
}

// get borrows an instance for a call whose caller holds the gate.
func (c *code) get(ctx context.Context) (*instance, error) {
	if in := c.takeSpare(); in != nil {
		c.gate.Leave() // the spare's ticket; the caller holds its own
		return in, nil
	}
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		in := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return in, nil
	}
	c.mu.Unlock()
	return c.instantiate(ctx, nil)
}

// put returns an instance borrowed with get; a closed one is dropped.
func (c *code) put(in *instance) {
	in.fam.unlink()
	if in.mod.IsClosed() {
		in.close(0)
		return
	}
	c.putIdle(in)
}

// putIdle adds an open instance to the idle list, or closes it when c was
// freed.
func (c *code) putIdle(in *instance) {
	c.mu.Lock()
	if c.freed {
		c.mu.Unlock()
		in.closeIdle()
		return
	}
	c.idle = append(c.idle, in)
	c.mu.Unlock()
}

// Gate implements purger.Target.
func (c *code) Gate() *purger.Gate { return &c.gate }

// Lingering implements purger.Target: the processes whose own instance is
// of c, those with a call into c through the host on their stack, and
// those with a frame of c from a link call (their instance of c counts a
// depth above zero). A depth of zero is trusted only after the process
// has reached a safepoint (safepoint.go). Each kind is kept per version as
// processes gain and drop code, so the cost is that of the processes
// concerned, not of all processes.
func (c *code) Lingering() []purger.Process {
	c.mu.Lock()
	out := make([]purger.Process, 0, len(c.procs))
	seen := make(map[*process]bool, len(c.procs))
	for p := range c.procs {
		out = append(out, p)
		seen[p] = true
	}
	type link struct {
		p    *process
		in   *instance
		mark uint64
	}
	var links []link
	for p := range c.stacks {
		if !seen[p] {
			out = append(out, p)
			seen[p] = true
		}
	}
	for p, in := range c.linkers {
		if !seen[p] {
			links = append(links, link{p, in, p.mark()})
		}
	}
	c.mu.Unlock()
	for _, l := range links {
		if seen[l.p] {
			continue
		}
		l.p.settle(l.mark)
		if l.in.depthNow() > 0 {
			out = append(out, l.p)
			seen[l.p] = true
		}
	}
	return out
}

// InterruptCalls implements purger.Target: it closes every instance in use.
// In sandboxed mode that stops the Wasm running in it; in trusted mode the
// call notices when it next returns to the host.
func (c *code) InterruptCalls() {
	c.mu.Lock()
	idle := make(map[*instance]bool, len(c.idle)+1)
	for _, in := range c.idle {
		idle[in] = true
	}
	for i := range c.spares {
		if in := c.spares[i].Load(); in != nil {
			idle[in] = true
		}
	}
	var busy []*instance
	for in := range c.live {
		if !idle[in] {
			busy = append(busy, in)
		}
	}
	c.mu.Unlock()
	for _, in := range busy {
		in.close(exitKilled)
	}
}

// Free implements purger.Target: it closes every instance and the compiled
// code and frees the old slot.
func (c *code) Free() {
	c.mu.Lock()
	c.freed = true
	idle := c.idle
	c.idle = nil
	all := make([]*instance, 0, len(c.live))
	for in := range c.live {
		all = append(all, in)
	}
	c.mu.Unlock()
	for _, in := range idle {
		in.closeIdle()
	}
	for _, in := range all {
		in.close(exitKilled) // a no-op for the idle ones
	}
	c.h.table.FreeOld(c.ver.Name, c.ver)
	c.h.forget(c)
	_ = c.ver.Compiled.Close(context.Background())
	c.closeStubs(context.Background())
	c.giveUp()
}

// giveUp gives back what the version holds beside its instances: its
// charge to the memory budget and its ext ids; then the names nobody
// exports or imports any more are forgotten (sweep). It runs once the
// version is freed or discarded, its stubs closed.
func (c *code) giveUp() {
	c.h.mem.release(c.charged.Swap(0))
	c.mu.Lock()
	ids := c.extIDs
	c.extIDs = nil
	c.mu.Unlock()
	c.h.sweep(append(c.h.ext.drop(c.h, ids), c.ver.Name)...)
}

// Detach implements purger.Target: c stops being its module's old code,
// so that a new version can be loaded while the Go calls still running in
// c finish; Free follows when the last of them has left.
func (c *code) Detach() { c.h.table.FreeOld(c.ver.Name, c.ver) }

// hold records that p's own instance is of c; release undoes one hold.
func (c *code) hold(p *process) {
	c.mu.Lock()
	c.procs[p]++
	c.mu.Unlock()
}

func (c *code) release(p *process) {
	c.mu.Lock()
	dropOne(c.procs, p)
	c.mu.Unlock()
}

// dropOne takes one count of p from m, and p itself at zero.
func dropOne(m map[*process]int, p *process) {
	if m[p] <= 1 {
		delete(m, p)
	} else {
		m[p]--
	}
}

// lingering counts the processes lingering in c now, for reports (Modules,
// Which): the depths as they are, without settling, and without touching
// the processes whose own instance is of c beyond counting them.
func (c *code) lingering() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.procs)
	for p := range c.stacks {
		if _, own := c.procs[p]; !own {
			n++
		}
	}
	for p, in := range c.linkers {
		_, own := c.procs[p]
		_, stacked := c.stacks[p]
		if !own && !stacked && in.depthNow() > 0 {
			n++
		}
	}
	return n
}
