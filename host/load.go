package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wasmhot/wasmhot/exports"
	"github.com/wasmhot/wasmhot/modules"
	"github.com/wasmhot/wasmhot/purger"
)

// Source is a module to load.
type Source struct {
	// Name is the module name: a lowercase letter, then lowercase
	// letters, digits and underscores (modules.CheckName).
	Name string
	// Wasm is the module's binary.
	Wasm []byte
	// Sticky marks the module sticky once loaded: it refuses reload and
	// delete (ErrSticky) until SetSticky(name, false).
	Sticky bool
}

// PurgeResult says what a purge did.
type PurgeResult struct {
	// Killed is the number of processes killed because they lingered.
	Killed int
	// Interrupted is the number of Go calls in flight that were stopped
	// after the grace period and failed with ErrPurged (sandboxed mode).
	Interrupted int
	// Waited is the number of Go calls in flight that the purge waited
	// for: those that ended within the grace period, or all of them in
	// trusted mode, where running code cannot be stopped.
	Waited int
	// Detached is the number of Go calls in flight that a reload did not
	// wait for: the purged version was set apart, each call finishes in it
	// (or is stopped after the grace period) and the version is freed
	// after the last one.
	Detached int
}

// KilledAny reports whether the purge killed a process: the boolean
// code:purge/1 returns.
func (r PurgeResult) KilledAny() bool { return r.Killed > 0 }

func purgeResult(r purger.Result) PurgeResult {
	return PurgeResult{Killed: r.Killed, Interrupted: r.Interrupted, Waited: r.Waited, Detached: r.Detached}
}

// Prepared holds compiled modules that are not yet visible. Finish them with
// [Host.Finish] or drop them with [Prepared.Discard]; a failed Finish leaves
// them prepared, so they can be finished again later (as Erlang's
// code:finish_loading/1).
type Prepared struct {
	h     *Host
	mods  []*modules.Prepared
	codes []*code
	done  bool
	took  time.Duration // the time Prepare took
}

// Modules returns the names of the prepared modules.
func (p *Prepared) Modules() []string {
	names := make([]string, len(p.mods))
	for i, m := range p.mods {
		names[i] = m.Version.Name
	}
	return names
}

// Discard releases prepared modules that will not be finished. It is a
// no-op after a successful Finish.
func (p *Prepared) Discard(ctx context.Context) {
	if p == nil || p.done {
		return
	}
	p.done = true
	for i, m := range p.mods {
		p.codes[i].mu.Lock()
		idle := p.codes[i].idle
		p.codes[i].idle = nil
		p.codes[i].mu.Unlock()
		for _, in := range idle {
			in.closeIdle()
		}
		p.codes[i].closeStubs(ctx)
		m.Discard(ctx)
		p.codes[i].giveUp()
	}
}

// Prepare reads, validates and compiles each source, checks its imports and
// instantiates it once (so a start function that traps fails here). It
// changes nothing visible. If any source fails, every compiled one is
// released and the error is a *modules.BatchError naming each failure.
func (h *Host) Prepare(ctx context.Context, srcs ...Source) (_ *Prepared, err error) {
	if err := h.beginOp(); err != nil {
		return nil, err
	}
	defer h.endOp()
	defer func() { err = h.closedErr(err) }()
	defer h.recoverClosed(&err)
	began := time.Now()
	p := &Prepared{h: h}
	if h.guard != nil {
		// Entries changed or added since the last load are checked (and
		// dropped) before wazero may read them; the ones this load writes
		// are indexed after it. (A load running beside this one may lose
		// the entry it just wrote: it is compiled again next time.)
		h.guard.sync(true)
		defer h.guard.sync(false)
	}
	var errs []*modules.ModuleError
	for _, src := range srcs {
		if err := h.checkHostName(src.Name); err != nil {
			errs = append(errs, &modules.ModuleError{Module: src.Name, Err: err})
			continue
		}
		// The compiled code is charged from the start: compiling holds
		// more than the version will.
		cost := int64(len(src.Wasm)) * codeCostFactor
		if !h.mem.charge(cost) {
			errs = append(errs, &modules.ModuleError{Module: src.Name, Err: fmt.Errorf("%w: %d bytes of module need about %d bytes of the node's memory budget, which has %d of %d left",
				ErrLimit, len(src.Wasm), cost, max(h.mem.limit-h.mem.used.Load(), 0), h.mem.limit)})
			continue
		}
		mp, err := h.table.Prepare(ctx, modules.Source{Name: src.Name, Wasm: src.Wasm, Sticky: src.Sticky})
		if err != nil {
			h.mem.release(cost)
			errs = append(errs, &modules.ModuleError{Module: src.Name, Err: err})
			continue
		}
		c := h.newCode(mp.Version)
		c.charged.Store(cost)
		if err := c.link(ctx); err != nil {
			mp.Discard(ctx)
			c.giveUp()
			errs = append(errs, &modules.ModuleError{Module: src.Name, Err: fmt.Errorf("%w: %w", ErrBadModule, err)})
			continue
		}
		in, err := c.trialInstance(ctx)
		if err != nil {
			c.closeStubs(ctx)
			mp.Discard(ctx)
			c.giveUp()
			errs = append(errs, &modules.ModuleError{Module: src.Name, Err: fmt.Errorf("%w: %w", ErrBadModule, err)})
			continue
		}
		c.idle = append(c.idle, in)
		p.mods = append(p.mods, mp)
		p.codes = append(p.codes, c)
	}
	if len(errs) > 0 {
		p.Discard(ctx)
		err := &modules.BatchError{Errs: errs}
		h.noteLoadFailed(sourceNames(srcs), err)
		return nil, err
	}
	p.took = time.Since(began)
	return p, nil
}

// trialInstance makes the first instance of a prepared version, running its
// start function under the start timeout (which can stop it in sandboxed
// mode only).
func (c *code) trialInstance(ctx context.Context) (*instance, error) {
	sctx, cancel := context.WithTimeout(ctx, c.h.cfg.startTimeout)
	defer cancel()
	in, err := c.instantiate(sctx, nil)
	if err != nil && sctx.Err() != nil {
		err = fmt.Errorf("start function ran over %v: %w", c.h.cfg.startTimeout, err)
	}
	return in, err
}

// Finish makes every prepared module current in one step, all or none (as
// code:finish_loading/1): every export of every module switches for all
// callers at once. It fails with ErrNotPurged for a module that still has
// old code, ErrSticky for a sticky one; then nothing changes.
func (h *Host) Finish(ctx context.Context, p *Prepared) error {
	if err := h.checkOpen(); err != nil {
		return err
	}
	began := time.Now()
	h.codeMu.Lock()
	defer h.codeMu.Unlock()
	return h.finishLocked(p, began)
}

// finishLocked switches to the prepared modules; the load took p.took to
// prepare, then the time since began.
func (h *Host) finishLocked(p *Prepared, began time.Time) error {
	if p == nil || p.done {
		return errors.New("host: prepared modules already finished or discarded")
	}
	var switched []modules.Switch
	codes := make(map[*modules.Version]*code, len(p.codes))
	for _, c := range p.codes {
		codes[c.ver] = c
	}
	err := h.table.Finish(p.mods, func(sw []modules.Switch) {
		ups := make([]exports.Update[target], len(sw))
		h.codesMu.Lock()
		for i, s := range sw {
			c := codes[s.New]
			h.codes[s.New] = c
			ups[i] = exports.Update[target]{Module: s.Name, Entries: c.targets}
		}
		h.codesMu.Unlock()
		h.exports.Publish(ups...)
		h.bumpEpoch()
		switched = sw
	})
	if err != nil {
		h.noteLoadFailed(p.Modules(), err)
		return err
	}
	h.noteLoaded(switched, p.took+time.Since(began))
	// The names the new versions dropped, unless imported, are forgotten.
	names := make([]string, len(p.codes))
	for i, c := range p.codes {
		names[i] = c.ver.Name
	}
	h.sweep(names...)
	p.done = true
	return nil
}

// AtomicLoad prepares and finishes the sources together: all of them load,
// or none (code:atomic_load/1).
func (h *Host) AtomicLoad(ctx context.Context, srcs ...Source) error {
	p, err := h.Prepare(ctx, srcs...)
	if err != nil {
		return err
	}
	if err := h.Finish(ctx, p); err != nil {
		p.Discard(ctx)
		return err
	}
	return nil
}

// Load loads wasm as the new current version of name (code:load_file/1). It
// fails with ErrNotPurged, changing nothing, while the module still has old
// code.
func (h *Host) Load(ctx context.Context, name string, wasm []byte) (VersionInfo, error) {
	if err := h.AtomicLoad(ctx, Source{Name: name, Wasm: wasm}); err != nil {
		return VersionInfo{}, unbatch(err)
	}
	return h.currentInfo(name)
}

// Reload purges the module's old code, killing the processes lingering in
// it, then loads wasm as the new current version (c:l/1). The bytes are
// compiled and checked before anything is purged, so a bad module changes
// nothing. Unlike Purge, Reload does not wait for the Go calls still
// running in the code it purges: they finish there (or, in sandboxed mode,
// are stopped with ErrPurged after the grace period), and that code is
// freed after the last of them; PurgeResult.Detached counts them. A busy
// caller that the Go scheduler descheduled in the middle of a call then
// does not hold up the reload.
func (h *Host) Reload(ctx context.Context, name string, wasm []byte) (VersionInfo, PurgeResult, error) {
	res, err := h.ReloadAll(ctx, Source{Name: name, Wasm: wasm})
	if err != nil {
		return VersionInfo{}, res, unbatch(err)
	}
	info, err := h.currentInfo(name)
	return info, res, err
}

// ReloadAll is Reload for several modules at once: every source is compiled
// and checked, then, in one critical section that no other code change can
// enter, each module's old code is purged and all of them become current
// together. A sticky module refuses the whole batch before anything is
// purged. The result sums what the purges did.
func (h *Host) ReloadAll(ctx context.Context, srcs ...Source) (PurgeResult, error) {
	if err := h.checkOpen(); err != nil {
		return PurgeResult{}, err
	}
	p, err := h.Prepare(ctx, srcs...)
	if err != nil {
		return PurgeResult{}, err
	}
	res, err := h.FinishReload(ctx, p)
	if err != nil {
		p.Discard(ctx)
	}
	return res, err
}

// FinishReload is Finish with a purge first, as ReloadAll does: in one
// critical section that no other code change can enter, the old code of
// each prepared module is purged (without waiting for the Go calls in
// flight in it: PurgeResult.Detached), then all of them become current
// together. A sticky module refuses the whole batch before anything is
// purged. A failed FinishReload leaves p prepared.
func (h *Host) FinishReload(ctx context.Context, p *Prepared) (PurgeResult, error) {
	var total PurgeResult
	if err := h.checkOpen(); err != nil {
		return total, err
	}
	if p == nil || p.done {
		return total, errors.New("host: prepared modules already finished or discarded")
	}
	began := time.Now()
	h.codeMu.Lock()
	defer h.codeMu.Unlock()
	var errs []*modules.ModuleError
	names := p.Modules()
	for _, name := range names {
		if m, _ := h.table.Get(name); m.Sticky {
			errs = append(errs, &modules.ModuleError{Module: name, Err: ErrSticky})
		}
	}
	if len(errs) > 0 {
		err := &modules.BatchError{Errs: errs}
		h.noteLoadFailed(names, err)
		return total, err
	}
	for _, name := range names {
		res, err := h.purgeLocked(ctx, name, true)
		total.Killed += res.Killed
		total.Interrupted += res.Interrupted
		total.Waited += res.Waited
		total.Detached += res.Detached
		if err != nil {
			h.noteLoadFailed(names, err)
			return total, err
		}
	}
	return total, h.finishLocked(p, began)
}

// Rollback makes the old version of name current again, and its current
// version old, in one switch: no compile, no instance made, the two
// versions keep their vsns. Every external call made after it reaches the
// version it brings back; processes running the version it sets aside now
// linger in old code, to be upgraded or purged as after a load. A deleted
// module gets its old version back as current. It fails with ErrNoOld
// when name has no old version (it was purged) and ErrSticky when name is
// sticky; then nothing changes.
func (h *Host) Rollback(ctx context.Context, name string) (VersionInfo, error) {
	if err := h.checkNamed(name); err != nil {
		return VersionInfo{}, err
	}
	began := time.Now()
	h.codeMu.Lock()
	var sw modules.Switch
	err := h.table.Rollback(name, func(s modules.Switch) {
		h.exports.Publish(exports.Update[target]{Module: name, Entries: h.codeOf(s.New).targets})
		h.bumpEpoch()
		sw = s
	})
	h.codeMu.Unlock()
	if err != nil {
		return VersionInfo{}, err
	}
	h.sweep(name)
	h.noteRolledBack(sw, time.Since(began))
	return h.currentInfo(name)
}

// unbatch turns a one-module BatchError into that module's error.
func unbatch(err error) error {
	var be *modules.BatchError
	if errors.As(err, &be) && len(be.Errs) == 1 {
		return be.Errs[0]
	}
	return err
}

// SoftPurge frees the old code of name if no process lingers in it and no
// call is in flight in it (code:soft_purge/1). It returns true when it freed
// the old code or there was none, false when someone still holds it.
func (h *Host) SoftPurge(ctx context.Context, name string) (bool, error) {
	if err := h.checkNamed(name); err != nil {
		return false, err
	}
	h.codeMu.Lock()
	defer h.codeMu.Unlock()
	m, _ := h.table.Get(name)
	if m.Old == nil {
		return true, nil
	}
	freed := purger.SoftPurge(h.codeOf(m.Old))
	h.noteSoftPurged(name, m.Old.Vsn, freed)
	return freed, nil
}

// Purge frees the old code of name (code:purge/1): every process lingering
// in it is killed with reason killed; Go calls in flight in it get the
// configured grace period (WithPurgeGrace) to finish, then fail with
// ErrPurged (sandboxed mode), or are waited for (trusted mode); see
// PurgeResult. Result.KilledAny is the boolean code:purge returns.
// Purge waits at most DefaultPurgeTimeout (or until ctx ends) for holders to
// stop; past that it frees the code anyway and returns an error.
func (h *Host) Purge(ctx context.Context, name string) (PurgeResult, error) {
	if err := h.checkNamed(name); err != nil {
		return PurgeResult{}, err
	}
	h.codeMu.Lock()
	defer h.codeMu.Unlock()
	return h.purgeLocked(ctx, name, false)
}

// purgeLocked purges the old code of name. With detach (a reload), it does
// not wait for the Go calls in flight in it: they finish in the detached
// version, within the grace, which is freed after the last of them.
func (h *Host) purgeLocked(ctx context.Context, name string, detach bool) (PurgeResult, error) {
	m, _ := h.table.Get(name)
	if m.Old == nil {
		return PurgeResult{}, nil
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, DefaultPurgeTimeout)
	defer cancel()
	opts := purger.Options{Interruptible: h.cfg.mode == Sandboxed, Grace: h.cfg.purgeGrace, Detach: detach}
	if detach {
		vsn := m.Old.Vsn
		opts.Detached = func(_ purger.Result, err error) {
			if err != nil {
				h.logLine(nil, nil, fmt.Appendf(nil, "purge of module[%s] vsn[%d] after reload: %v", name, vsn, err))
			}
		}
	}
	res, err := purger.Purge(ctx, h.codeOf(m.Old), opts)
	if err != nil {
		err = fmt.Errorf("module[%s] vsn[%d]: %w", name, m.Old.Vsn, err)
	}
	h.notePurged(name, m.Old.Vsn, purgeResult(res), detach, time.Since(began), err)
	return purgeResult(res), err
}

// Delete makes the current code of name old, leaving no current version
// (code:delete/1): new external calls to it fail with ErrUndef; processes
// running it go on until purged. It returns false, changing nothing, when
// name has no current code or still has old code.
func (h *Host) Delete(ctx context.Context, name string) (bool, error) {
	if err := h.checkNamed(name); err != nil {
		return false, err
	}
	h.codeMu.Lock()
	defer h.codeMu.Unlock()
	var vsn uint64
	deleted, err := h.table.Delete(name, func(s modules.Switch) {
		h.exports.Publish(exports.Update[target]{Module: name})
		h.bumpEpoch()
		vsn = s.Prev.Vsn
	})
	if deleted {
		h.sweep(name)
		h.noteDeleted(name, vsn)
	}
	return deleted, err
}

// SetSticky marks name sticky (or not): a sticky module refuses reload and
// delete with ErrSticky.
func (h *Host) SetSticky(name string, sticky bool) error {
	if err := h.checkNamed(name); err != nil {
		return err
	}
	h.codeMu.Lock()
	defer h.codeMu.Unlock()
	return h.table.SetSticky(name, sticky)
}

func (h *Host) checkNamed(name string) error {
	if err := h.checkOpen(); err != nil {
		return err
	}
	return modules.CheckName(name)
}

// VersionInfo describes one loaded version (module_info and more).
type VersionInfo struct {
	Vsn uint64 // the load counter: 1, 2, 3... per name
	// VsnTag is the version's name for users (its wasmhot.vsn custom
	// section, or "sha256:" and 16 hex digits without one): the same
	// bytes keep the same tag across loads.
	VsnTag   string
	UUID     string
	SHA256   string
	Size     int
	LoadedAt time.Time
	Exports  []modules.Func
	Imports  []modules.Import
	// Lingering is the number of processes lingering in this version;
	// InFlight the number of calls running in it now.
	Lingering int
	InFlight  int64
}

// ModuleInfo describes one module name: its current and old versions (nil
// when absent) and whether it is sticky.
type ModuleInfo struct {
	Name    string
	Current *VersionInfo
	Old     *VersionInfo
	Sticky  bool
}

func (h *Host) versionInfo(v *modules.Version) *VersionInfo {
	if v == nil {
		return nil
	}
	vi := &VersionInfo{
		Vsn: v.Vsn, VsnTag: v.VsnTag, UUID: v.UUID.String(), SHA256: v.SHA256Hex(), Size: v.Size,
		LoadedAt: v.LoadedAt, Exports: v.Exports, Imports: v.Imports,
	}
	if c := h.codeOf(v); c != nil {
		vi.Lingering = c.lingering()
		vi.InFlight = c.inFlight()
	}
	return vi
}

func (h *Host) moduleInfo(m modules.Module) ModuleInfo {
	return ModuleInfo{Name: m.Name, Current: h.versionInfo(m.Current), Old: h.versionInfo(m.Old), Sticky: m.Sticky}
}

// Which describes module name, or fails with ErrNotLoaded when it has
// neither current nor old code.
func (h *Host) Which(name string) (ModuleInfo, error) {
	if err := modules.CheckName(name); err != nil {
		return ModuleInfo{}, err
	}
	m, ok := h.table.Get(name)
	if !ok {
		return ModuleInfo{Name: name, Sticky: m.Sticky}, fmt.Errorf("module[%s]: %w", name, ErrNotLoaded)
	}
	return h.moduleInfo(m), nil
}

// Generation counts the switches of current code since New: each load,
// atomic load, reload and delete adds one. A caller that keeps a copy of
// Modules can compare generations to know whether an operation (a spawn
// or call that loaded a module from the code path) changed what is
// current. Purges do not count: they change only old code.
func (h *Host) Generation() uint64 { return h.exports.Seq() }

// Modules describes every module with current or old code, by name
// (code:all_loaded/0).
func (h *Host) Modules() []ModuleInfo {
	all := h.table.All()
	out := make([]ModuleInfo, len(all))
	for i, m := range all {
		out[i] = h.moduleInfo(m)
	}
	return out
}

func (h *Host) currentInfo(name string) (VersionInfo, error) {
	mi, err := h.Which(name)
	if err != nil {
		return VersionInfo{}, err
	}
	if mi.Current == nil {
		return VersionInfo{}, fmt.Errorf("module[%s]: %w", name, ErrNotLoaded)
	}
	return *mi.Current, nil
}
