package host

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmhot/wasmhot/modules"
	"github.com/wasmhot/wasmhot/rewrite"
)

// Host functions.
//
// The embedding program registers Go functions under an import module
// name (Config.WithHostFunctions); guests import them like any function,
// (import "env" "get" (func ...)). They belong to the program, not to the
// code table: they are not reloadable, no guest module may take their
// module's name, and imports of them are bound to the host module at
// instantiation, in both modes (they are never external calls: no link
// table, no stub). The import policy checks each import against the
// registered function and its exact type at load.

// ErrHostFunc: a host function failed (it returned an error or panicked).
// The error of the failed call or the exit of the process wraps it and
// the function's own error.
var ErrHostFunc = errors.New("host: host function failed")

// HostFunc is a Go function that guests can import, made by [NewHostFunc]
// (typed) or [NewHostFuncStack] (on the Wasm value stack), and registered
// with [Config.WithHostFunctions]. A HostFunc is a value: its With methods
// return changed copies. The zero HostFunc is not a function; a
// configuration holding one fails [Config.Validate].
type HostFunc struct {
	name string
	sig  modules.Signature
	call func(ctx context.Context, c Caller, stack []uint64) error
	// bytesOut: the function returns bytes through the guest's alloc, so
	// a module importing it must export alloc (checked at load).
	bytesOut bool
	blocking bool
	// err is what is wrong with the definition (Config.Validate says it).
	err error
}

// NewHostFuncStack returns the host function name of the given Wasm type,
// working on wazero's value stack as [api.GoModuleFunc] does: stack holds
// the parameters when fn is called (i32 and f32 in the low 32 bits; see
// api.DecodeI32, api.DecodeF32...) and fn writes the results to its
// first elements (api.EncodeI32...); it is as long as the larger of the
// two. Types are i32, i64, f32 or f64. This is the fastest form: nothing
// is converted and nothing allocated.
//
// fn returning an error ends the guest call: see [Config.WithHostFunctions].
func NewHostFuncStack(name string, params, results []api.ValueType, fn func(ctx context.Context, c Caller, stack []uint64) error) HostFunc {
	f := HostFunc{name: name, sig: modules.Signature{Params: slices.Clone(params), Results: slices.Clone(results)}, call: fn}
	if fn == nil {
		f.err = fmt.Errorf("host function %q: nil function", name)
		return f
	}
	for _, t := range append(slices.Clone(params), results...) {
		if !numeric(t) {
			f.err = fmt.Errorf("host function %q: type %s: want i32, i64, f32 or f64", name, api.ValueTypeName(t))
			break
		}
	}
	return f
}

func numeric(t api.ValueType) bool {
	switch t {
	case api.ValueTypeI32, api.ValueTypeI64, api.ValueTypeF32, api.ValueTypeF64:
		return true
	}
	return false
}

// Name returns the function's import name.
func (f HostFunc) Name() string { return f.name }

// Signature returns the function's Wasm type, which an import of it must
// declare exactly.
func (f HostFunc) Signature() modules.Signature { return f.sig.Clone() }

// WithBlocking says whether the function may wait (network, disk, a lock
// or channel that others hold, a sleep). While a process runs a blocking
// host function it gives up its CPU token, so that other processes run
// meanwhile, and shows as suspended; it takes a token again, in turn,
// before it returns to Wasm. A function that does not wait should not be
// marked: giving up and taking back a token costs more than a quick
// function, and under load sends the process to the back of the queue.
// Default: false. A Go call holds no token; it is unaffected.
func (f HostFunc) WithBlocking(on bool) HostFunc { f.blocking = on; return f }

// Blocking reports whether the function is marked blocking.
func (f HostFunc) Blocking() bool { return f.blocking }

// hostModule is one import module of host functions.
type hostModule struct {
	name string
	fns  []HostFunc
}

func (m *hostModule) fn(name string) *HostFunc {
	for i := range m.fns {
		if m.fns[i].name == name {
			return &m.fns[i]
		}
	}
	return nil
}

// WithHostFunctions registers Go functions that guests import from the
// module named module. Calling it again with the same module adds
// functions to it.
//
// The module name is any non-empty UTF-8 string of at most 255 bytes
// except the names the host uses: "wasmhot" (the guest ABI),
// "wasi_snapshot_preview1" and any name starting with "wasmhot:". When it
// is also a valid guest module name ("env"), no guest module can be
// loaded under it ([ErrBadName]): the name belongs to the host functions.
// A guest importing a function the module does not have, or with another
// type, fails to load ([ErrBadModule]), as does a guest importing a
// function that returns bytes without exporting alloc.
//
// A host function runs on the goroutine of the guest that calls it: the
// process's, or the Go call's. Its ctx is, in a process, done when the
// process is killed (Kill, Purge, Close); in a Go call, the call's ctx.
// An error it returns, or a panic (recovered and logged), ends the guest
// call: a process exits with reason trap (badarg when the guest passed a
// pointer outside its memory, limit when the error wraps ErrLimit, killed
// when the process was killed), a Go call fails with that reason; both
// errors wrap [ErrHostFunc] and the function's error. The node goes on.
//
// A host function may use the Host (Send, Spawn, Call...). A call back
// into guests nests on the goroutine; a host function that can be made
// to call back without end (a guest calling it from the function it
// calls) must bound the depth itself.
func (c Config) WithHostFunctions(module string, fns ...HostFunc) Config {
	mods := make([]hostModule, 0, len(c.hostMods)+1)
	found := false
	for _, m := range c.hostMods {
		m.fns = slices.Clone(m.fns)
		if m.name == module {
			m.fns = append(m.fns, fns...)
			found = true
		}
		mods = append(mods, m)
	}
	if !found {
		mods = append(mods, hostModule{name: module, fns: slices.Clone(fns)})
	}
	c.hostMods = mods
	return c
}

// HostModules returns the names of the modules of host functions, in
// the order they were registered.
func (c Config) HostModules() []string {
	names := make([]string, len(c.hostMods))
	for i, m := range c.hostMods {
		names[i] = m.name
	}
	return names
}

// hostModule returns the module of host functions named name, or nil.
func (c Config) hostModule(name string) *hostModule {
	for i := range c.hostMods {
		if c.hostMods[i].name == name {
			return &c.hostMods[i]
		}
	}
	return nil
}

// validateHostFuncs reports what is wrong with the host functions.
func (c Config) validateHostFuncs() []error {
	var errs []error
	for _, m := range c.hostMods {
		switch {
		case m.name == "" || len(m.name) > 255 || !utf8.ValidString(m.name):
			errs = append(errs, fmt.Errorf("host function module %s: want a UTF-8 name of 1 to 255 bytes", modules.Excerpt(m.name)))
			continue
		case m.name == ABIModule, m.name == WASIModule, strings.HasPrefix(m.name, rewrite.ReservedPrefix):
			errs = append(errs, fmt.Errorf("host function module %q: the name is reserved (%s, %s, %s...)", m.name, ABIModule, WASIModule, rewrite.ReservedPrefix))
			continue
		}
		seen := map[string]bool{}
		for _, f := range m.fns {
			switch {
			case f.err != nil:
				errs = append(errs, fmt.Errorf("module %q: %w", m.name, f.err))
			case f.call == nil:
				errs = append(errs, fmt.Errorf("module %q: a HostFunc without a function (make one with NewHostFunc or NewHostFuncStack)", m.name))
			case f.name == "" || len(f.name) > modules.MaxFunctionName || !utf8.ValidString(f.name):
				errs = append(errs, fmt.Errorf("module %q: host function name %s: want UTF-8 of 1 to %d bytes", m.name, modules.Excerpt(f.name), modules.MaxFunctionName))
			case seen[f.name]:
				errs = append(errs, fmt.Errorf("module %q: host function %q registered twice", m.name, f.name))
			}
			seen[f.name] = true
		}
	}
	return errs
}

// instantiateHostFuncs instantiates one host module per registered module
// of host functions.
func (h *Host) instantiateHostFuncs(ctx context.Context) error {
	for i := range h.cfg.hostMods {
		m := &h.cfg.hostMods[i]
		b := h.r.NewHostModuleBuilder(m.name)
		for j := range m.fns {
			f := &m.fns[j]
			b = b.NewFunctionBuilder().WithGoModuleFunction(h.hostFuncWrapper(m.name, f), f.sig.Params, f.sig.Results).
				WithName(f.name).Export(f.name)
		}
		if _, err := b.Instantiate(ctx); err != nil {
			return fmt.Errorf("host: instantiate the host functions of %q: %w", m.name, err)
		}
	}
	return nil
}

// checkHostImport is the import policy for an import of a module of host
// functions: the function must exist with the type the guest declares.
func (m *hostModule) checkImport(imp modules.Import) error {
	f := m.fn(imp.Name)
	if f == nil {
		names := make([]string, len(m.fns))
		for i := range m.fns {
			names[i] = m.fns[i].name
		}
		slices.Sort(names)
		has := "none"
		if len(names) > 0 {
			has = strings.Join(names, ", ")
		}
		return fmt.Errorf("the host has no function %q in its module %q (it has: %s)", imp.Name, m.name, has)
	}
	if !f.sig.Equal(imp.Signature) {
		return fmt.Errorf("host function %s.%s has type %s", m.name, f.name, f.sig)
	}
	return nil
}

// isGuestImport says whether an import module is another guest module
// (its calls are external calls): neither the ABI, WASI, nor a module of
// host functions.
func (h *Host) isGuestImport(module string) bool {
	return isGuestModule(module) && h.cfg.hostModule(module) == nil
}

// checkHostName refuses a guest module named like a module of host
// functions.
func (h *Host) checkHostName(name string) error {
	if h.cfg.hostModule(name) != nil {
		return fmt.Errorf("%w: %q is the host's module of host functions (Config.WithHostFunctions); a guest module cannot take its name", ErrBadName, name)
	}
	return nil
}

// checkHostImports refuses a version that imports a host function
// returning bytes without exporting alloc.
func (c *code) checkHostImports() error {
	if c.alloc >= 0 {
		return nil
	}
	for _, imp := range c.ver.Imports {
		if m := c.h.cfg.hostModule(imp.Module); m != nil {
			if f := m.fn(imp.Name); f != nil && f.bytesOut {
				return fmt.Errorf("host function %s.%s returns bytes through the guest's alloc, and the module exports no alloc (i32)->i32", m.name, f.name)
			}
		}
	}
	return nil
}

// errBadPointer marks a host function's failure caused by the guest
// passing a pointer or length outside its memory: reason badarg.
var errBadPointer = errors.New("outside the guest's memory")

// hostFuncWrapper is the wazero function of host function f of module
// mod: it brackets the call as host code of the calling process, gives
// up the CPU token around a blocking function, and turns an error or a
// panic into the end of the guest call.
func (h *Host) hostFuncWrapper(mod string, f *HostFunc) api.GoModuleFunc {
	return func(ctx context.Context, m api.Module, stack []uint64) {
		p := procFrom(ctx)
		c := Caller{h: h, m: m, wctx: ctx, p: p}
		fctx := ctx
		if p != nil {
			p.enterHost()
			defer p.leaveHost()
			if p.killed() {
				exit(p, Killed, nil)
			}
			p.hostYield()
			fctx = killContext{p}
			c.suspended = f.blocking
		}
		err := h.runHostFunc(fctx, c, mod, f, stack)
		if p != nil && p.killed() {
			exit(p, Killed, nil)
		}
		if err == nil {
			return
		}
		reason := Trap
		switch {
		case errors.Is(err, ErrLimit):
			reason = Limit
		case errors.Is(err, errBadPointer):
			reason = BadArg
		}
		err = fmt.Errorf("%w: %s.%s: %w", ErrHostFunc, mod, f.name, err)
		if p != nil {
			exit(p, reason, err)
		}
		panic(err) // the Go call fails with it (call.go: callError)
	}
}

// runHostFunc calls f, recovering a panic as its error; a blocking f runs
// without the process's CPU token.
func (h *Host) runHostFunc(ctx context.Context, c Caller, mod string, f *HostFunc, stack []uint64) (err error) {
	if c.suspended {
		c.p.suspend()
		defer func() {
			if !c.p.resume() {
				err = nil // killed while it waited for a CPU: the caller sees it
			}
		}()
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
			var cd *code
			if in := c.instance(); in != nil {
				cd = in.code
			}
			h.logLine(cd, c.p, fmt.Appendf(nil, "host function %s.%s: %v%s", mod, f.name, err, panicSite(debug.Stack())))
		}
	}()
	return f.call(ctx, c, stack)
}

// killContext is a process's host function ctx: done when the process is
// killed. It carries no values (a Go call made from the host function
// with it is a Go call of its own, not the process's).
type killContext struct{ p *process }

func (k killContext) Deadline() (deadline time.Time, ok bool) { return }
func (k killContext) Done() <-chan struct{}                   { return k.p.killCh }
func (k killContext) Value(any) any                           { return nil }
func (k killContext) Err() error {
	if k.p.killed() {
		return context.Canceled
	}
	return nil
}

// panicSite returns where a recovered panic happened, " at FUNC
// (FILE:LINE)", from the stack of the recovering goroutine (debug.Stack
// in the deferred function), or "" when it cannot tell. A log line is
// one line: the whole stack would not be.
func panicSite(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	for i, l := range lines {
		// "panic({...})", its file, then the frame that panicked.
		if strings.HasPrefix(l, "panic(") && i+3 < len(lines) {
			fn := lines[i+2]
			if j := strings.LastIndexByte(fn, '('); j > 0 {
				fn = fn[:j]
			}
			file := strings.TrimSpace(lines[i+3])
			if j := strings.LastIndex(file, " +0x"); j > 0 {
				file = file[:j]
			}
			return " at " + fn + " (" + file + ")"
		}
	}
	return ""
}
