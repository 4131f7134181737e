package rewrite_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmhot/wasmhot/internal/testmode"
	"github.com/wasmhot/wasmhot/rewrite"
)

// TestSpecSuite runs the WebAssembly spec test scripts shipped with wazero
// twice, side by side: every module as it is in one wazero runtime, and as
// rewrite.Rewrite outputs it (with fuel) in a second runtime whose tick
// import refills the counter with a small amount, so that ticks happen
// throughout. Every module wazero accepts must be rewritten, the output
// must compile, and every assertion the original module passes must give
// the same outcome on the rewritten one.
//
// Without WASMHOT_LONG=1 it runs the 2.0 suite without its
// assert_exhaustion commands (stack exhaustion, one tick at a time, is
// most of the time under the race detector); .ci/run runs it whole.
//
// Set WASMHOT_SPECTEST_DUMP to a directory to get the original and
// rewritten bytes of every module involved in a failure.
func TestSpecSuite(t *testing.T) {
	root, err := wazeroModuleRoot()
	if err != nil {
		t.Fatalf("spec suite not found (run `go mod download %s`): %v", wazeroModule, err)
	}
	var total specStats
	found := 0 // scripts in the suite, run or filtered out by -run
	start := time.Now()
	// The suite subtest returns when all scripts are done, in parallel: v1
	// and v2 side by side, each starting with its slowest scripts.
	t.Run("suite", func(t *testing.T) {
		for _, d := range specSuiteDirs {
			if !d.v2 && !testmode.Long() {
				// The 2.0 suite holds the 1.0 one's tests; rewriting for
				// 1.0 features (no link entries) is checked by a long run.
				t.Logf("suite %s left to a long run (WASMHOT_LONG=1)", d.name)
				continue
			}
			dir := filepath.Join(root, filepath.FromSlash(d.rel))
			features := api.CoreFeaturesV1
			if d.v2 {
				features = api.CoreFeaturesV2
			}
			scripts := specScriptsByCost(t, dir)
			found += len(scripts)
			t.Run(d.name, func(t *testing.T) {
				t.Parallel()
				for _, script := range scripts {
					name := strings.TrimSuffix(filepath.Base(script), ".json")
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						r := &specScriptRun{t: t, suite: d.name, dir: dir, features: features, stats: &total}
						r.run(script)
					})
				}
			})
		}
	})
	total.log(t, time.Since(start))
	if total.modules.Load() == 0 {
		t.Fatalf("no module was rewritten and checked (%d scripts run)", total.scripts.Load())
	}
	if int(total.scripts.Load()) == found && (total.returns.Load() == 0 || total.traps.Load() == 0) {
		t.Fatalf("the whole suite ran but checked %d assert_return and %d assert_trap", total.returns.Load(), total.traps.Load())
	}
}

// specScriptsByCost lists the scripts of dir, those likely to run longest
// first: exhausting the stack is what takes time, then size.
func specScriptsByCost(t *testing.T, dir string) []string {
	scripts, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no spec scripts in %s (err %v)", dir, err)
	}
	cost := map[string]int{}
	for _, s := range scripts {
		raw, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		cost[s] = len(raw) + 1<<20*bytes.Count(raw, []byte(`"assert_exhaustion"`))
	}
	sort.Slice(scripts, func(i, j int) bool {
		if cost[scripts[i]] != cost[scripts[j]] {
			return cost[scripts[i]] > cost[scripts[j]]
		}
		return scripts[i] < scripts[j]
	})
	return scripts
}

const (
	specInitialFuel = 1000
	specRefill      = 1000
	// specCallTimeout bounds one invocation, so that a rewriter bug that
	// makes a loop endless fails the script instead of hanging the test.
	specCallTimeout = 2 * time.Minute
	// specMaxFailures stops a script after that many failures: once the
	// two worlds diverge, later commands only repeat the news.
	specMaxFailures = 25
)

type specStats struct {
	scripts, modules                 atomic.Int64
	returns, traps, exhaustion       atomic.Int64
	actions, linking, instantiations atomic.Int64
	malformed, acceptedMalformed     atomic.Int64
	revived                          atomic.Int64
	skipped, ticks, resolves         atomic.Int64
	deferred                         atomic.Int64 // assert_exhaustion left to a long run
}

func (s *specStats) log(t *testing.T, elapsed time.Duration) {
	t.Logf("spec suite: %d scripts, %d modules rewritten and compiled, in %v", s.scripts.Load(), s.modules.Load(), elapsed.Round(time.Millisecond))
	t.Logf("spec suite: %d assert_return checked, %d assert_trap checked, %d assert_exhaustion checked, %d actions checked",
		s.returns.Load(), s.traps.Load(), s.exhaustion.Load(), s.actions.Load())
	if n := s.deferred.Load(); n > 0 {
		t.Logf("spec suite: %d assert_exhaustion left to a long run (WASMHOT_LONG=1)", n)
	}
	t.Logf("spec suite: %d assert_unlinkable and %d assert_uninstantiable checked, %d invalid/malformed binaries rewritten without panic (%d accepted by Rewrite, %d of which wazero rejects but accepts rewritten)",
		s.linking.Load(), s.instantiations.Load(), s.malformed.Load(), s.acceptedMalformed.Load(), s.revived.Load())
	t.Logf("spec suite: %d assertions skipped (the original module disagrees with the script), %d ticks observed, %d link entries resolved",
		s.skipped.Load(), s.ticks.Load(), s.resolves.Load())
}

// specWorld is one of the two runtimes a script runs in.
type specWorld struct {
	label   string
	rt      wazero.Runtime
	named   map[string]*specInstance // by the script's $name
	current *specInstance            // the last module instantiated
	// all are the world's instances, for resetting their frame counters
	// after a trap (the rewritten world).
	all []api.Module
}

// specInstance is a module of a world; mod is nil when it could not be
// instantiated, and commands on it are skipped.
type specInstance struct {
	mod  api.Module
	file string
}

type specScriptRun struct {
	t        *testing.T
	suite    string // v1 or v2
	dir      string
	features api.CoreFeatures
	stats    *specStats
	ctx      context.Context
	orig     *specWorld
	rewr     *specWorld
	failures int
	// tick observations of the rewritten world
	ticks, badTicks atomic.Int64
	firstBadTick    atomic.Int64
	// registeredAs maps a module command's index to its register name.
	registeredAs map[int]string
	// infos is what the rewrite injected in each module of the rewritten
	// world, by instance name; anon numbers the unregistered ones.
	infos    map[string]rewrite.Info
	anon     int
	resolves atomic.Int64
}

func (r *specScriptRun) run(script string) {
	t := r.t
	raw, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	var s specScript
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	r.stats.scripts.Add(1)
	r.ctx = context.Background()
	r.registeredAs = specRegistrations(t, s.Commands)

	cfg := wazero.NewRuntimeConfigCompiler().WithCoreFeatures(r.features).WithCloseOnContextDone(true)
	r.orig = r.newWorld("original", cfg)
	r.rewr = r.newWorld("rewritten", cfg)
	defer r.orig.rt.Close(r.ctx)
	defer r.rewr.rt.Close(r.ctx)

	r.infos = map[string]rewrite.Info{}
	_, err = r.rewr.rt.NewHostModuleBuilder(rewrite.RuntimeModule).
		NewFunctionBuilder().
		WithGoFunction(api.GoFunc(r.tick), []api.ValueType{api.ValueTypeI64}, []api.ValueType{api.ValueTypeI64}).
		Export(rewrite.TickFunction).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(r.resolve), []api.ValueType{api.ValueTypeI32}, []api.ValueType{0x70}).
		Export(rewrite.ResolveFunction).
		Instantiate(r.ctx)
	if err != nil {
		t.Fatalf("host module %s: %v", rewrite.RuntimeModule, err)
	}
	for _, w := range []*specWorld{r.orig, r.rewr} {
		if _, err := w.rt.InstantiateWithConfig(r.ctx, spectestModuleBytes, wazero.NewModuleConfig().WithName("spectest")); err != nil {
			t.Fatalf("%s world: spectest module: %v", w.label, err)
		}
	}

	for i := range s.Commands {
		r.command(i, &s.Commands[i])
	}

	r.stats.ticks.Add(r.ticks.Load())
	r.stats.resolves.Add(r.resolves.Load())
	if n := r.badTicks.Load(); n > 0 {
		t.Errorf("tick called %d times with a counter above its refill (first: %d): the counter only goes down between ticks", n, r.firstBadTick.Load())
	}
}

func (r *specScriptRun) newWorld(label string, cfg wazero.RuntimeConfig) *specWorld {
	return &specWorld{label: label, rt: wazero.NewRuntimeWithConfig(r.ctx, cfg), named: map[string]*specInstance{}}
}

// tick is the rewritten world's wasmhot:rt.tick: it counts and refills.
func (r *specScriptRun) tick(_ context.Context, stack []uint64) {
	// A tick comes when the counter is negative, or before a memory.grow
	// with what is left of the slice.
	if fuel := int64(stack[0]); fuel > specRefill {
		if r.badTicks.Add(1) == 1 {
			r.firstBadTick.Store(fuel)
		}
	}
	r.ticks.Add(1)
	stack[0] = uint64(specRefill)
}

// specRegistrations finds, for each register command, the module it names, so
// that the module can be instantiated under that name in the first place
// (wazero cannot rename an instance).
func specRegistrations(t *testing.T, cmds []specCommand) map[int]string {
	as := map[int]string{}
	last := -1
	byName := map[string]int{}
	for i, c := range cmds {
		switch c.Type {
		case "module":
			last = i
			if c.Name != "" {
				byName[c.Name] = i
			}
		case "register":
			target := last
			if c.Name != "" {
				idx, ok := byName[c.Name]
				if !ok {
					t.Fatalf("line %d: register of unknown module %s", c.Line, c.Name)
				}
				target = idx
			}
			if target < 0 {
				t.Fatalf("line %d: register without a module", c.Line)
			}
			if prev, dup := as[target]; dup {
				t.Fatalf("line %d: module registered twice (%q and %q), which this runner does not support", c.Line, prev, c.As)
			}
			as[target] = c.As
		}
	}
	return as
}

func (r *specScriptRun) failf(c *specCommand, format string, args ...any) {
	r.t.Helper()
	r.failures++
	r.t.Errorf("line %d %s: %s", c.Line, c.Type, fmt.Sprintf(format, args...))
	if r.failures >= specMaxFailures {
		r.t.Fatalf("stopping this script after %d failures", r.failures)
	}
}

func (r *specScriptRun) skip(c *specCommand, format string, args ...any) {
	r.t.Helper()
	r.stats.skipped.Add(1)
	r.t.Logf("skipped line %d %s: %s", c.Line, c.Type, fmt.Sprintf(format, args...))
}

func (r *specScriptRun) command(i int, c *specCommand) {
	switch c.Type {
	case "module":
		r.module(i, c)
	case "register":
		// Done when the module was instantiated (see specRegistrations).
	case "assert_return", "action":
		r.assertReturn(c)
	case "assert_exhaustion":
		// Exhausting the stack, one tick at a time, is most of the suite's
		// time under the race detector: a long run checks it.
		if !testmode.Long() {
			r.stats.deferred.Add(1)
			return
		}
		r.assertTrap(c)
	case "assert_trap":
		r.assertTrap(c)
	case "assert_unlinkable", "assert_uninstantiable":
		r.assertInstantiationFails(c)
	case "assert_invalid", "assert_malformed":
		r.assertRejected(c)
	default:
		r.failf(c, "unknown command type (this runner must learn it)")
	}
}

// rewrite calls Rewrite as a sandboxed host does and turns a panic into an
// error. The link entry points need reference types and bulk memory, so
// the 1.0 suite, run with 1.0 features only, is rewritten without them.
//
// With links, every call of a function imported from another script module
// (all imports but the spectest module's) is compiled into a link-table
// call, which the rewritten world's resolve fills with the entry point of
// the very function the import is bound to: the results must not change.
func (r *specScriptRun) rewrite(wasm []byte) (out []byte, info rewrite.Info, panicked bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			panicked, err = true, fmt.Errorf("panic: %v", p)
		}
	}()
	link := r.features != api.CoreFeaturesV1
	out, info, err = rewrite.Rewrite(wasm, rewrite.Options{
		Fuel: true, Link: link, InitialFuel: specInitialFuel, MaxFrames: specMaxFrames,
		External: func(module string) bool { return module != "spectest" },
	})
	return out, info, false, err
}

// specMaxFrames bounds the rewritten world's call depth: deeper than any
// script goes but for its stack exhaustion tests, which then trap at the
// bound.
const specMaxFrames = 100_000

// resolve is the rewritten world's wasmhot:rt.resolve: entry k of the
// caller's link table becomes the entry point of the function its k-th
// external import is bound to, in the instance of that name.
func (r *specScriptRun) resolve(ctx context.Context, m api.Module, stack []uint64) {
	info, ok := r.infos[m.Name()]
	k := uint32(stack[0])
	if !ok || k >= uint32(len(info.Imports)) {
		panic(fmt.Sprintf("resolve(%d) from %q: no such link entry", k, m.Name()))
	}
	imp := info.Imports[k]
	callee, cinfo := r.rewr.rt.Module(imp.Module), r.infos[imp.Module]
	if callee == nil {
		panic(fmt.Sprintf("resolve %s.%s from %q: no instance %q", imp.Module, imp.Name, m.Name(), imp.Module))
	}
	for i, name := range cinfo.Entries {
		if name == imp.Name {
			res, err := callee.ExportedFunction(rewrite.RefFunction).Call(ctx, uint64(i))
			if err != nil {
				panic(err)
			}
			r.resolves.Add(1)
			stack[0] = res[0]
			return
		}
	}
	panic(fmt.Sprintf("resolve %s.%s from %q: no entry point", imp.Module, imp.Name, m.Name()))
}

// specPrepared is a module compiled in both worlds.
type specPrepared struct {
	file       string
	orig, rewr wazero.CompiledModule
	out        []byte
	info       rewrite.Info
}

// prepare reads a module file, compiles it as it is, rewrites it and
// compiles the output. It reports a failure and returns nil when the
// rewriter is at fault, and returns nil quietly when wazero itself rejects
// the original (ok is false then).
func (r *specScriptRun) prepare(c *specCommand) (p *specPrepared, ok bool) {
	wasm, err := os.ReadFile(filepath.Join(r.dir, c.Filename))
	if err != nil {
		r.t.Fatalf("line %d: %v", c.Line, err)
	}
	out, info, panicked, rwErr := r.rewrite(wasm)
	if panicked {
		r.dump(c.Filename, wasm, nil)
		r.failf(c, "%s: Rewrite panicked: %v", c.Filename, rwErr)
		return nil, true
	}
	orig, err := r.orig.rt.CompileModule(r.ctx, wasm)
	if err != nil {
		return nil, false
	}
	if rwErr != nil {
		r.dump(c.Filename, wasm, nil)
		r.failf(c, "%s: wazero compiles the module but Rewrite fails: %v", c.Filename, rwErr)
		return nil, true
	}
	rewr, err := r.rewr.rt.CompileModule(r.ctx, out)
	if err != nil {
		r.dump(c.Filename, wasm, out)
		r.failf(c, "%s: the rewritten module does not compile: %v", c.Filename, err)
		return nil, true
	}
	r.stats.modules.Add(1)
	return &specPrepared{file: c.Filename, orig: orig, rewr: rewr, out: out, info: info}, true
}

// name is the rewritten world's name for an instance of p: its registered
// name, or one of its own, so that resolve can find the instance's Info.
func (r *specScriptRun) name(registered string, p *specPrepared) string {
	name := registered
	if name == "" {
		r.anon++
		name = fmt.Sprintf("wasmhot-spec-%d", r.anon)
	}
	r.infos[name] = p.info
	return name
}

func specModuleConfig(name string) wazero.ModuleConfig {
	return wazero.NewModuleConfig().WithName(name).WithStartFunctions()
}

func (r *specScriptRun) module(i int, c *specCommand) {
	name := r.registeredAs[i]
	set := func(o, w *specInstance) {
		r.orig.current, r.rewr.current = o, w
		if c.Name != "" {
			r.orig.named[c.Name], r.rewr.named[c.Name] = o, w
		}
	}
	set(&specInstance{file: c.Filename}, &specInstance{file: c.Filename})

	p, ok := r.prepare(c)
	if !ok {
		r.skip(c, "%s: wazero rejects the original module", c.Filename)
		return
	}
	if p == nil {
		return
	}
	orig, errO := r.orig.rt.InstantiateModule(r.ctx, p.orig, specModuleConfig(name))
	rewr, errR := r.rewr.rt.InstantiateModule(r.ctx, p.rewr, specModuleConfig(r.name(name, p)))
	switch {
	case errO != nil && errR != nil:
		r.skip(c, "%s: the original module fails to instantiate: %v", c.Filename, errO)
		return
	case errO != nil:
		r.failf(c, "%s: the original fails to instantiate (%v) but the rewritten module does not", c.Filename, errO)
		return
	case errR != nil:
		r.dumpPrepared(p)
		r.failf(c, "%s: the rewritten module fails to instantiate: %v", c.Filename, errR)
		return
	}
	set(&specInstance{mod: orig, file: c.Filename}, &specInstance{mod: rewr, file: c.Filename})
	r.rewr.all = append(r.rewr.all, rewr)
	r.checkFuelGlobal(c, rewr)
}

// checkFuelGlobal checks the rewritten module exports its fuel counter.
func (r *specScriptRun) checkFuelGlobal(c *specCommand, m api.Module) {
	g := m.ExportedGlobal(rewrite.FuelGlobal)
	if g == nil {
		r.failf(c, "%s: the rewritten module does not export %q", c.Filename, rewrite.FuelGlobal)
		return
	}
	if _, mutable := g.(api.MutableGlobal); !mutable || g.Type() != api.ValueTypeI64 {
		r.failf(c, "%s: %q is not a mutable i64 global (type %v, mutable %v)", c.Filename, rewrite.FuelGlobal, g.Type(), mutable)
	}
}

// targets resolves the module an action names in both worlds; ok is false
// (and the command skipped) when the original is not available.
func (r *specScriptRun) targets(c *specCommand) (o, w *specInstance, ok bool) {
	if c.Action == nil {
		r.failf(c, "command without an action")
		return nil, nil, false
	}
	if c.Action.Module != "" {
		o, w = r.orig.named[c.Action.Module], r.rewr.named[c.Action.Module]
	} else {
		o, w = r.orig.current, r.rewr.current
	}
	if o == nil || o.mod == nil {
		r.skip(c, "module %q is not available", c.Action.Module)
		return nil, nil, false
	}
	if w == nil || w.mod == nil {
		// The failure was reported when the module was prepared.
		r.stats.skipped.Add(1)
		return nil, nil, false
	}
	return o, w, true
}

// specOutcome is the result of an action in one world.
type specOutcome struct {
	results []uint64
	err     error
}

func (o specOutcome) String() string {
	if o.err != nil {
		return "error " + specFirstLine(o.err)
	}
	return fmt.Sprint(o.results)
}

func specFirstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// perform runs the command's action on one module.
func (r *specScriptRun) perform(c *specCommand, m api.Module) specOutcome {
	a := c.Action
	switch a.Type {
	case "invoke":
		var args []uint64
		for _, v := range a.Args {
			enc, err := v.encode()
			if err != nil {
				r.t.Fatalf("line %d: %v", c.Line, err)
			}
			args = append(args, enc...)
		}
		fn := m.ExportedFunction(a.Field)
		if fn == nil {
			return specOutcome{err: fmt.Errorf("no exported function %q", a.Field)}
		}
		ctx, cancel := context.WithTimeout(r.ctx, specCallTimeout)
		defer cancel()
		res, err := fn.Call(ctx, args...)
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		if err != nil {
			// A trap does not count the frames it unwinds out: the
			// script goes on with the same instances, which wasmhot
			// would discard, so their counters start again from zero.
			for _, mod := range r.rewr.all {
				if g, ok := mod.ExportedGlobal(rewrite.FramesGlobal).(api.MutableGlobal); ok {
					g.Set(0)
				}
			}
		}
		return specOutcome{results: append([]uint64(nil), res...), err: err}
	case "get":
		g := m.ExportedGlobal(a.Field)
		if g == nil {
			return specOutcome{err: fmt.Errorf("no exported global %q", a.Field)}
		}
		return specOutcome{results: []uint64{g.Get()}}
	}
	r.t.Fatalf("line %d: unknown action type %q", c.Line, a.Type)
	return specOutcome{}
}

func (r *specScriptRun) describe(c *specCommand, w *specInstance) string {
	a := c.Action
	module := w.file
	if a.Module != "" {
		module = a.Module + " from " + w.file
	}
	return fmt.Sprintf("%s %q %v (module %s)", a.Type, a.Field, a.Args, module)
}

func (r *specScriptRun) assertReturn(c *specCommand) {
	o, w, ok := r.targets(c)
	if !ok {
		return
	}
	if c.Action.Type == "get" {
		for _, e := range c.Expected {
			if e.Type == "v128" {
				r.skip(c, "wazero cannot read a v128 global")
				return
			}
		}
	}
	want := r.perform(c, o.mod)
	if want.err != nil {
		r.skip(c, "%s: the original fails: %v", r.describe(c, o), specFirstLine(want.err))
		return
	}
	if ok, err := specResultsMatch(c.Expected, want.results); err != nil {
		r.t.Fatalf("line %d: %v", c.Line, err)
	} else if !ok {
		r.skip(c, "%s: the original returns %s, the script expects %v", r.describe(c, o), specFormatResults(c.Expected, want.results), c.Expected)
		return
	}
	got := r.perform(c, w.mod)
	if got.err != nil {
		r.dumpInstance(w)
		r.failf(c, "%s: the original returns %s, the rewritten module fails: %v", r.describe(c, w), specFormatResults(c.Expected, want.results), got.err)
		return
	}
	if ok, _ := specResultsMatch(c.Expected, got.results); !ok {
		r.dumpInstance(w)
		r.failf(c, "%s: the original returns %s, the rewritten module %s (script expects %v)",
			r.describe(c, w), specFormatResults(c.Expected, want.results), specFormatResults(c.Expected, got.results), c.Expected)
		return
	}
	if c.Type == "action" {
		r.stats.actions.Add(1)
	} else {
		r.stats.returns.Add(1)
	}
}

func (r *specScriptRun) assertTrap(c *specCommand) {
	o, w, ok := r.targets(c)
	if !ok {
		return
	}
	want := r.perform(c, o.mod)
	if want.err == nil {
		r.skip(c, "%s: the original returns %v, the script expects %q", r.describe(c, o), want.results, c.Text)
		return
	}
	got := r.perform(c, w.mod)
	if got.err == nil {
		r.dumpInstance(w)
		r.failf(c, "%s: the original fails (%v), the rewritten module returns %v", r.describe(c, w), specFirstLine(want.err), got.results)
		return
	}
	if c.Type == "assert_exhaustion" {
		r.stats.exhaustion.Add(1)
		return
	}
	if a, b := specFirstLine(want.err), specFirstLine(got.err); a != b {
		r.dumpInstance(w)
		r.failf(c, "%s: the original fails with %q, the rewritten module with %q", r.describe(c, w), a, b)
		return
	}
	r.stats.traps.Add(1)
}

// assertInstantiationFails handles modules that are valid but must fail to
// link or to instantiate: the rewrite must succeed and compile, and both
// worlds must agree on the instantiation outcome (wazero deliberately
// instantiates some of the "out of bounds table access" ones).
func (r *specScriptRun) assertInstantiationFails(c *specCommand) {
	if c.ModuleType == "text" {
		return
	}
	p, ok := r.prepare(c)
	if !ok {
		r.skip(c, "%s: wazero rejects the original module", c.Filename)
		return
	}
	if p == nil {
		return
	}
	_, errO := r.orig.rt.InstantiateModule(r.ctx, p.orig, specModuleConfig(""))
	_, errR := r.rewr.rt.InstantiateModule(r.ctx, p.rewr, specModuleConfig(r.name("", p)))
	switch {
	case (errO == nil) != (errR == nil):
		r.dumpPrepared(p)
		r.failf(c, "%s: instantiating the original: %v; the rewritten module: %v", c.Filename, errO, errR)
		return
	case errO == nil && c.Type == "assert_unlinkable":
		r.skip(c, "%s: the original links, the script expects %q", c.Filename, c.Text)
		return
	}
	if c.Type == "assert_unlinkable" {
		r.stats.linking.Add(1)
	} else {
		r.stats.instantiations.Add(1)
	}
}

// assertRejected feeds invalid and malformed binaries to Rewrite, which
// may refuse them but must not panic. When Rewrite accepts one that wazero
// rejects and wazero accepts the output, the rewrite made an invalid module
// valid: that is logged (and counted), not failed.
func (r *specScriptRun) assertRejected(c *specCommand) {
	if c.ModuleType == "text" {
		return
	}
	wasm, err := os.ReadFile(filepath.Join(r.dir, c.Filename))
	if err != nil {
		r.t.Fatalf("line %d: %v", c.Line, err)
	}
	out, _, panicked, rwErr := r.rewrite(wasm)
	if panicked {
		r.dump(c.Filename, wasm, nil)
		r.failf(c, "%s: Rewrite panicked: %v", c.Filename, rwErr)
		return
	}
	r.stats.malformed.Add(1)
	if rwErr != nil {
		return
	}
	r.stats.acceptedMalformed.Add(1)
	if !r.compiles(r.orig.rt, wasm) && r.compiles(r.rewr.rt, out) {
		r.stats.revived.Add(1)
		r.dump(c.Filename, wasm, out)
		r.t.Logf("line %d %s: %s/%s (%q): wazero rejects it, but accepts its rewrite", c.Line, c.Type, r.suite, c.Filename, c.Text)
	}
}

func (r *specScriptRun) compiles(rt wazero.Runtime, wasm []byte) bool {
	cm, err := rt.CompileModule(r.ctx, wasm)
	if err != nil {
		return false
	}
	cm.Close(r.ctx)
	return true
}

// dump writes module bytes for a failure to $WASMHOT_SPECTEST_DUMP.
func (r *specScriptRun) dump(file string, orig, out []byte) {
	dir := os.Getenv("WASMHOT_SPECTEST_DUMP")
	if dir == "" {
		return
	}
	base := filepath.Join(dir, r.suite+"-"+strings.TrimSuffix(file, ".wasm"))
	var errs []error
	if orig != nil {
		errs = append(errs, os.WriteFile(base+".wasm", orig, 0o644))
	}
	if out != nil {
		errs = append(errs, os.WriteFile(base+".rewritten.wasm", out, 0o644))
	}
	if err := errors.Join(errs...); err != nil {
		r.t.Logf("dump: %v", err)
	}
}

func (r *specScriptRun) dumpPrepared(p *specPrepared) {
	if os.Getenv("WASMHOT_SPECTEST_DUMP") == "" {
		return
	}
	orig, _ := os.ReadFile(filepath.Join(r.dir, p.file))
	r.dump(p.file, orig, p.out)
}

func (r *specScriptRun) dumpInstance(w *specInstance) {
	if os.Getenv("WASMHOT_SPECTEST_DUMP") == "" {
		return
	}
	orig, err := os.ReadFile(filepath.Join(r.dir, w.file))
	if err != nil {
		return
	}
	out, _, _, _ := r.rewrite(orig)
	r.dump(w.file, orig, out)
}
