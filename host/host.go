package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmhot/wasmhot/exports"
	"github.com/wasmhot/wasmhot/internal/logbuf"
	"github.com/wasmhot/wasmhot/modules"
)

// Host is a wasmhot node embedded in a Go program: a wazero runtime, the
// code table, the export table, the processes, and the wasmhot host module
// that guests import. It is safe for concurrent use.
type Host struct {
	cfg     Config
	r       wazero.Runtime
	table   *modules.Table
	exports *exports.Table[target]

	// codeMu serialises code changes (load, finish, purge, delete), like
	// Erlang's code server. Calls never take it.
	codeMu sync.Mutex

	codesMu sync.Mutex
	codes   map[*modules.Version]*code

	slots sync.Map // funcKey -> *exports.Slot[target]

	cache wazero.CompilationCache // nil without a cache dir

	procs procTable
	insts sync.Map // api.Module -> *instance

	logOut  *logbuf.Writer // guest log lines on their way to cfg.log
	logRate *logRate       // the bound on guest log lines (lograte.go)
	// guard checks the compilation cache directory (nil: none).
	guard *cacheGuard

	// mem is the node's memory budget (budget.go).
	mem budget
	// cpus holds the CPU tokens of the running processes (cpu.go).
	cpus chan struct{}
	// stats counts the node's events and logs them (events.go).
	stats nodeStats

	ext       extSlots
	epoch     api.MutableGlobal      // the link epoch (sandboxed mode)
	epochMu   sync.Mutex             // orders bumps and new instances
	epochN    int64                  // guarded by epochMu
	callers   map[*instance]struct{} // instances with link tables; epochMu
	autoloads autoloads

	closed atomic.Bool
	// unfollow stops following the memory outside the Go heap in the
	// runtime's memory limit (memlimit.go).
	unfollow func()
	// opsMu and ops order Close after the compiles and instantiations in
	// progress (lifecycle.go).
	opsMu sync.RWMutex
	ops   sync.WaitGroup
}

type funcKey struct{ module, function string }

// New starts a host with the given configuration.
func New(ctx context.Context, cfg Config) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// No WithCloseOnContextDone: sandboxed guests are stopped by their
	// fuel ticks (fuel.go), which cost far less than wazero's checks.
	rc := wazero.NewRuntimeConfig().WithMemoryLimitPages(cfg.memoryLimitPages)
	var cache wazero.CompilationCache
	var guard *cacheGuard
	var unverified []string
	if cfg.cacheDir != "" {
		if err := os.MkdirAll(cfg.cacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("host: compilation cache: %w", err)
		}
		guard, unverified = newCacheGuard(cfg.cacheDir)
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(cfg.cacheDir); err != nil {
			return nil, fmt.Errorf("host: compilation cache: %w", err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	h := &Host{
		guard:   guard,
		cache:   cache,
		cfg:     cfg,
		r:       wazero.NewRuntimeWithConfig(ctx, rc),
		exports: exports.New[target](),
		codes:   map[*modules.Version]*code{},
		callers: map[*instance]struct{}{},
		mem:     budget{limit: cfg.memoryBudget},
		cpus:    make(chan struct{}, runtime.GOMAXPROCS(0)),
		stats:   nodeStats{log: cfg.logger},
	}
	h.logOut = logbuf.New(cfg.log, logQueueBytes)
	h.logRate = newLogRate(cfg.logRate)
	if len(unverified) > 0 {
		h.logLine(nil, nil, fmt.Appendf(nil, "compilation cache %s: removed %d entries that do not match its index (they will be compiled again): %s",
			cfg.cacheDir, len(unverified), strings.Join(unverified[:min(len(unverified), 5)], ", ")))
	}
	h.procs.init()
	opts := modules.Options{
		Imports:    h.checkImport,
		MaxSize:    cfg.maxModuleSize,
		MaxModules: cfg.maxModules,
	}
	if cfg.mode == Sandboxed {
		ro := rewriteOptions
		ro.External = h.isGuestImport // not the modules of host functions
		opts.Rewrite = &ro
	}
	h.table = modules.NewTable(h.r, opts)
	err := h.instantiateABI(ctx)
	if err == nil {
		err = h.instantiateRuntime(ctx)
	}
	if err == nil {
		err = h.instantiateExt(ctx)
	}
	if err == nil && cfg.mode == Sandboxed {
		err = h.instantiateLink(ctx)
	}
	if err == nil {
		err = h.instantiateWASI(ctx)
	}
	if err == nil {
		err = h.instantiateHostFuncs(ctx)
	}
	if err != nil {
		_ = h.r.Close(ctx)
		h.logOut.Close(0)
		return nil, err
	}
	h.unfollow = followMemoryLimit()
	return h, nil
}

// Config returns the host's configuration.
func (h *Host) Config() Config { return h.cfg }

// Close kills every process, closes every instance and the runtime. It is
// idempotent and blocks until the processes have exited or ctx ends.
func (h *Host) Close(ctx context.Context) error {
	h.opsMu.Lock()
	already := h.closed.Swap(true)
	h.opsMu.Unlock()
	if already {
		return nil
	}
	h.procs.killAll(ctx)
	h.waitOps(ctx)
	h.codeMu.Lock()
	defer h.codeMu.Unlock()
	err := h.r.Close(ctx)
	if h.cache != nil {
		err = errors.Join(err, h.cache.Close(ctx))
	}
	// The last lines reach the output unless it is stuck: Close does not
	// wait for it more than a second.
	h.logOut.Close(time.Second)
	h.unfollow()
	return err
}

func (h *Host) checkOpen() error {
	if h.closed.Load() {
		return ErrClosed
	}
	return nil
}

func (h *Host) codeOf(v *modules.Version) *code {
	if v == nil {
		return nil
	}
	h.codesMu.Lock()
	defer h.codesMu.Unlock()
	return h.codes[v]
}

func (h *Host) forget(c *code) {
	h.codesMu.Lock()
	delete(h.codes, c.ver)
	h.codesMu.Unlock()
}

// findSlot returns the slot of module:function when some version exports
// the name or a loaded version imports it, or nil: looking up names
// nothing exports (a guest spawning millions of made-up names, a client
// calling them) keeps nothing. Slots are cached in h.slots.
//
// A slot lives while its name is exported or imported: when neither is
// true any more (a version purged, a module deleted, an export dropped),
// sweep retires it. A holder of a slot therefore checks Retired after its
// Lookup (resolve does) and finds the slot again when it is.
func (h *Host) findSlot(module, function string) *exports.Slot[target] {
	k := funcKey{module, function}
	if s, ok := h.slots.Load(k); ok {
		if s := s.(*exports.Slot[target]); !s.Retired() {
			return s
		}
		h.slots.CompareAndDelete(k, s)
	}
	s := h.exports.Find(module, function)
	if s == nil {
		return nil
	}
	h.slots.Store(k, s)
	return s
}

// sweep retires the slots of the modules' names that nothing exports or
// imports any more, and drops them from the cache.
func (h *Host) sweep(modules ...string) {
	slices.Sort(modules)
	for _, m := range slices.Compact(modules) {
		for _, s := range h.exports.Sweep(m) {
			h.slots.CompareAndDelete(funcKey{s.Module, s.Function}, s)
		}
	}
}

// findSlotLoading is findSlot after loading module from the code path
// when the name is not found and the module is not loaded.
func (h *Host) findSlotLoading(ctx context.Context, module, function string) *exports.Slot[target] {
	if s := h.findSlot(module, function); s != nil {
		return s
	}
	if h.autoload(ctx, module) {
		return h.findSlot(module, function)
	}
	return nil
}

func undefErr(module, function string) error {
	return callErr(module, function, 0, Undef, ErrUndef)
}

// badArity is the error of a call whose signature does not match.
func badArity(module, function string, format string, args ...any) error {
	return callErr(module, function, 0, BadArity, fmt.Errorf("%w: "+format, append([]any{ErrBadArity}, args...)...))
}
