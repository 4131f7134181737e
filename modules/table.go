package modules

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasmhot/wasmhot/rewrite"
)

// Source is a module to load: its name, its Wasm bytes, and whether it is
// to be sticky once loaded.
type Source struct {
	Name   string
	Wasm   []byte
	Sticky bool
}

// ImportPolicy decides whether an import of the named module can be
// satisfied. It returns nil to accept the import, or an error saying why not.
type ImportPolicy func(module string, imp Import) error

// Options configure a [Table]. The zero value accepts any import and sets no
// limits.
type Options struct {
	Imports    ImportPolicy
	MaxSize    int // bytes per module; 0: no limit
	MaxModules int // names with a current or old version; 0: no limit
	// Rewrite, when set, rewrites every module before it is compiled (see
	// package rewrite). The version keeps the identity of the bytes as
	// loaded: sha256, size, imports and exports are the original's. The
	// table keeps recent rewrites by the sha256 of their input (32 MiB at
	// most), so Options.External must answer from the module name alone.
	Rewrite *rewrite.Options
}

// Module is the code table's record of one name.
type Module struct {
	Name    string
	Current *Version // nil when not loaded or deleted
	Old     *Version // nil when there is no old code
	Sticky  bool
}

type entry struct {
	Module
	lastVsn uint64
}

// Table is the code table. It is safe for concurrent use; each method is
// one critical section, so readers never see half a switch.
type Table struct {
	r    wazero.Runtime
	opts Options

	rewrites *rewriteCache // when opts.Rewrite is set

	mu   sync.Mutex
	mods map[string]*entry
	// loaded counts the names with a current or an old version.
	loaded int
}

// NewTable returns an empty code table that compiles with r.
func NewTable(r wazero.Runtime, opts Options) *Table {
	t := &Table{r: r, opts: opts, mods: map[string]*entry{}}
	if opts.Rewrite != nil {
		t.rewrites = newRewriteCache(rewriteCacheBytes)
	}
	return t
}

// Prepared is a compiled module waiting to be finished. It can be finished
// once; after a failed finish it can be finished again or discarded.
type Prepared struct {
	Version *Version
	Sticky  bool
	done    bool
}

// Prepare validates and compiles src and checks its imports. It changes
// nothing visible. On success the caller must either finish the result or
// [Prepared.Discard] it.
func (t *Table) Prepare(ctx context.Context, src Source) (*Prepared, error) {
	if err := CheckName(src.Name); err != nil {
		return nil, err
	}
	if t.opts.MaxSize > 0 && len(src.Wasm) > t.opts.MaxSize {
		return nil, fmt.Errorf("module[%s]: %w: %d bytes, limit %d", src.Name, ErrTooLarge, len(src.Wasm), t.opts.MaxSize)
	}
	if err := precheck(src.Wasm); err != nil {
		return nil, fmt.Errorf("module[%s]: %w: %w", src.Name, ErrBadModule, err)
	}
	c, info, err := t.compile(ctx, src.Wasm)
	if err != nil {
		return nil, fmt.Errorf("module[%s]: %w: %w", src.Name, ErrBadModule, err)
	}
	v := newVersion(src.Name, src.Wasm, c, info)
	if t.opts.Imports != nil {
		for _, imp := range v.Imports {
			if err := t.opts.Imports(src.Name, imp); err != nil {
				_ = c.Close(ctx)
				return nil, fmt.Errorf("module[%s]: %w: import %s.%s %s: %v",
					src.Name, ErrBadModule, imp.Module, imp.Name, imp.Signature, err)
			}
		}
	}
	return &Prepared{Version: v, Sticky: src.Sticky}, nil
}

// compile compiles wasm, rewritten when the table rewrites. The errors are
// about the bytes as loaded: when the rewritten module does not compile,
// the original is compiled to say why (the rewrite keeps valid modules
// valid, so the original is at fault).
func (t *Table) compile(ctx context.Context, wasm []byte) (wazero.CompiledModule, *rewrite.Info, error) {
	if t.opts.Rewrite == nil {
		c, err := t.r.CompileModule(ctx, wasm)
		return c, nil, err
	}
	out, info, rerr := t.rewrites.rewrite(wasm, *t.opts.Rewrite)
	if rerr == nil {
		c, err := t.r.CompileModule(ctx, out)
		if err == nil {
			return c, &info, nil
		}
		rerr = err
	}
	if errors.Is(rerr, rewrite.ErrReserved) || errors.Is(rerr, rewrite.ErrUnsupported) {
		return nil, nil, rerr
	}
	c, err := t.r.CompileModule(ctx, wasm)
	if err != nil {
		return nil, nil, err
	}
	_ = c.Close(ctx)
	return nil, nil, fmt.Errorf("rewrite: %w", rerr)
}

// Discard releases a prepared module that will not be finished.
func (p *Prepared) Discard(ctx context.Context) {
	if p != nil && !p.done {
		p.done = true
		_ = p.Version.Compiled.Close(ctx)
	}
}

// Switch describes what a finish does to one module: New becomes current and
// Prev (the former current, possibly nil) becomes old.
type Switch struct {
	Name string
	New  *Version
	Prev *Version
}

// Finish makes every prepared module current in one step, all or none. The
// checks (not purged, sticky, duplicates, limits) run first; if any module
// fails, nothing changes and the error is a [*BatchError] naming each failed
// module. Otherwise commit runs inside the table's critical section with the
// switches about to happen (so the caller can publish exports atomically with
// the table change), then the table changes.
func (t *Table) Finish(preps []*Prepared, commit func([]Switch)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []*ModuleError
	seen := map[string]bool{}
	added := 0
	for _, p := range preps {
		name := p.Version.Name
		switch e := t.mods[name]; {
		case p.done:
			errs = append(errs, &ModuleError{name, errors.New("modules: prepared module already finished or discarded")})
		case seen[name]:
			errs = append(errs, &ModuleError{name, ErrDuplicate})
		case e == nil:
			added++
		case e.Sticky:
			errs = append(errs, &ModuleError{name, ErrSticky})
		case e.Current != nil && e.Old != nil:
			errs = append(errs, &ModuleError{name, ErrNotPurged})
		case e.Current == nil && e.Old == nil:
			added++
		}
		seen[name] = true
	}
	if len(errs) == 0 && t.opts.MaxModules > 0 && t.loaded+added > t.opts.MaxModules {
		for _, p := range preps {
			errs = append(errs, &ModuleError{p.Version.Name, fmt.Errorf("%w: limit %d", ErrTooMany, t.opts.MaxModules)})
		}
	}
	if err := batchError(errs); err != nil {
		return err
	}
	now := time.Now()
	sw := make([]Switch, len(preps))
	for i, p := range preps {
		e := t.mods[p.Version.Name]
		if e == nil {
			e = &entry{Module: Module{Name: p.Version.Name}}
			t.mods[e.Name] = e
		}
		e.lastVsn++
		p.Version.Vsn = e.lastVsn
		p.Version.LoadedAt = now
		sw[i] = Switch{Name: e.Name, New: p.Version, Prev: e.Current}
	}
	if commit != nil {
		commit(sw)
	}
	t.loaded += added
	for i, p := range preps {
		e := t.mods[sw[i].Name]
		if sw[i].Prev != nil {
			e.Old = sw[i].Prev
		}
		e.Current = p.Version
		e.Sticky = e.Sticky || p.Sticky
		p.done = true
	}
	return nil
}

// Delete makes the current version of name old, leaving no current version,
// like code:delete/1. It returns false, changing nothing, when name has no
// current version or still has old code. commit runs in the critical section
// before the change, with the switch (New nil).
func (t *Table) Delete(name string, commit func(Switch)) (bool, error) {
	if err := CheckName(name); err != nil {
		return false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.mods[name]
	if e == nil || e.Current == nil || e.Old != nil {
		return false, nil
	}
	if e.Sticky {
		return false, fmt.Errorf("module[%s]: %w", name, ErrSticky)
	}
	if commit != nil {
		commit(Switch{Name: name, Prev: e.Current})
	}
	e.Old, e.Current = e.Current, nil
	return true, nil
}

// Rollback makes the old version of name current again and the current one
// (if any) old: the two swap, keeping their vsns. A deleted module (old
// code, no current) gets its old version back as current. It fails with
// ErrNoOld when name has no old version, ErrSticky when it is sticky;
// then nothing changes. commit runs in the critical section before the
// change, with the switch (New the old version, Prev the current one).
func (t *Table) Rollback(name string, commit func(Switch)) error {
	if err := CheckName(name); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.mods[name]
	if e == nil || e.Old == nil {
		return fmt.Errorf("module[%s]: %w", name, ErrNoOld)
	}
	if e.Sticky {
		return fmt.Errorf("module[%s]: %w", name, ErrSticky)
	}
	if commit != nil {
		commit(Switch{Name: name, New: e.Old, Prev: e.Current})
	}
	e.Current, e.Old = e.Old, e.Current
	return nil
}

// FreeOld removes v from name's old slot if it is still there, and reports
// whether it did. The purger calls it once nobody holds v any more.
func (t *Table) FreeOld(name string, v *Version) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.mods[name]
	if e == nil || e.Old != v || v == nil {
		return false
	}
	e.Old = nil
	if e.Current == nil {
		t.loaded--
	}
	return true
}

// SetSticky marks name sticky or not. A sticky module refuses reload and
// delete; the mark applies to the name whether or not it is loaded.
func (t *Table) SetSticky(name string, sticky bool) error {
	if err := CheckName(name); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.mods[name]
	if e == nil {
		e = &entry{Module: Module{Name: name}}
		t.mods[name] = e
	}
	e.Sticky = sticky
	return nil
}

// Get returns the record of name; ok is false when name has neither a
// current nor an old version.
func (t *Table) Get(name string) (m Module, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.mods[name]
	if e == nil {
		return Module{Name: name}, false
	}
	return e.Module, e.Current != nil || e.Old != nil
}

// Counts returns how many modules have a current or an old version, and
// how many of them have an old version, without listing them.
func (t *Table) Counts() (loaded, old int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.mods {
		if e.Current != nil || e.Old != nil {
			loaded++
		}
		if e.Old != nil {
			old++
		}
	}
	return loaded, old
}

// All returns every module with a current or an old version, sorted by name.
func (t *Table) All() []Module {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Module, 0, len(t.mods))
	for _, e := range t.mods {
		if e.Current != nil || e.Old != nil {
			out = append(out, e.Module)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sortFuncs(fs []Func) {
	sort.Slice(fs, func(i, j int) bool { return fs[i].Name < fs[j].Name })
}
