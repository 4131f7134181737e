package host

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// Mode says how far the host can stop running guest code.
type Mode int

const (
	// Sandboxed hosts rewrite every guest at load to meter fuel: any
	// running guest can be stopped within one fuel slice (kill, purge,
	// Close, a cancelled ctx, a call timeout), fuel budgets apply, and each
	// process's fuel use is counted. The metering costs a few percent on
	// most code (see docs/design.md for the figures).
	Sandboxed Mode = iota
	// Trusted hosts run guests as loaded, unmetered, but can stop them only
	// at host-call boundaries (receive, sleep, send...). Purge waits for
	// calls in flight and a guest spinning in Wasm without calling the host
	// cannot be killed until it does; while it spins, the Go garbage
	// collector cannot finish a cycle.
	Trusted
)

func (m Mode) String() string {
	switch m {
	case Sandboxed:
		return "sandboxed"
	case Trusted:
		return "trusted"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Defaults of [Config].
const (
	DefaultMemoryLimitPages = 256      // 16 MiB per instance
	DefaultMaxModuleSize    = 32 << 20 // bytes
	DefaultMaxModules       = 10_000   // names with a current or old version
	DefaultMaxProcesses     = 100_000  // live processes per host
	DefaultMailboxLimit     = 100_000  // messages queued per process
	DefaultMailboxBytes     = 64 << 20 // bytes queued per process
	DefaultMaxMessageSize   = 16 << 20 // bytes per message, state and bytes call
	DefaultPurgeTimeout     = 5 * time.Second
	DefaultPurgeGrace       = 2 * time.Second
	DefaultStartTimeout     = 5 * time.Second
)

// Config is the immutable configuration of a [Host]. Each With method returns
// a changed copy; [New] validates the result.
type Config struct {
	mode             Mode
	memoryLimitPages uint32
	maxModuleSize    int
	maxModules       int
	maxProcesses     int
	mailboxLimit     int
	mailboxBytes     int
	memoryBudget     int64
	maxMessageSize   int
	callTimeout      time.Duration
	purgeGrace       time.Duration
	fuel             int64
	startTimeout     time.Duration
	cacheDir         string
	log              io.Writer
	logRate          int
	logger           *slog.Logger
	codePath         []string
	interactive      bool
	wasi             map[string]bool
	hostMods         []hostModule // WithHostFunctions (hostfunc.go)
}

// NewConfig returns the default configuration: sandboxed mode, the limits
// named Default*, guest log lines to stderr.
func NewConfig() Config {
	return Config{
		mode:             Sandboxed,
		memoryLimitPages: DefaultMemoryLimitPages,
		maxModuleSize:    DefaultMaxModuleSize,
		maxModules:       DefaultMaxModules,
		maxProcesses:     DefaultMaxProcesses,
		mailboxLimit:     DefaultMailboxLimit,
		mailboxBytes:     DefaultMailboxBytes,
		memoryBudget:     DefaultMemoryBudget(),
		maxMessageSize:   DefaultMaxMessageSize,
		purgeGrace:       DefaultPurgeGrace,
		startTimeout:     DefaultStartTimeout,
		log:              os.Stderr,
		logRate:          DefaultLogRate,
		interactive:      true,
	}
}

// WithMode sets [Sandboxed] or [Trusted] execution.
func (c Config) WithMode(m Mode) Config { c.mode = m; return c }

// WithMemoryLimitPages caps each instance's linear memory, in 64 KiB pages
// (1..65536). A module that declares more fails to load; memory.grow past
// the cap returns -1 to the guest.
func (c Config) WithMemoryLimitPages(n uint32) Config { c.memoryLimitPages = n; return c }

// WithMaxModuleSize caps the size of a module's bytes.
func (c Config) WithMaxModuleSize(bytes int) Config { c.maxModuleSize = bytes; return c }

// WithMaxModules caps the number of loaded module names.
func (c Config) WithMaxModules(n int) Config { c.maxModules = n; return c }

// WithMaxProcesses caps the number of live processes.
func (c Config) WithMaxProcesses(n int) Config { c.maxProcesses = n; return c }

// WithMailboxLimit caps the number of messages queued per process; a send to
// a full mailbox fails and drops nothing that was queued.
func (c Config) WithMailboxLimit(n int) Config { c.mailboxLimit = n; return c }

// WithMailboxBytes caps the bytes of the messages queued per process (the
// maximum message size when that is larger, so that one message always
// fits); a send past it fails with ErrMailboxFull, as past the message
// count.
func (c Config) WithMailboxBytes(n int) Config { c.mailboxBytes = n; return c }

// WithMemoryBudget bounds the memory the node holds for its guests, in
// bytes: linear memories (by capacity), queued messages, process states,
// each live process's fixed cost, and each loaded version's compiled code
// (estimated as a multiple of its bytes) from the start of its load. An
// action that would take the node past it fails and the node lives on: a
// memory.grow returns -1 to the guest (a process that then traps exits
// with reason limit; a Go call fails with ErrLimit); a spawn, send,
// set_state, instantiation or load fails with ErrLimit. 0 charges
// without a bound; otherwise at least 16 MiB. Default:
// [DefaultMemoryBudget]. See [Host.MemoryUsage].
func (c Config) WithMemoryBudget(bytes int64) Config { c.memoryBudget = bytes; return c }

// MemoryBudget returns the configured memory budget in bytes (0: none).
func (c Config) MemoryBudget() int64 { return c.memoryBudget }

// WithMaxMessageSize caps the bytes of one message, of a process state and of
// each side of a bytes call.
func (c Config) WithMaxMessageSize(bytes int) Config { c.maxMessageSize = bytes; return c }

// WithCallTimeout bounds every Go → guest call made through the host API
// (0, the default: no bound beyond the caller's ctx). It stops a spinning
// guest only in Sandboxed mode, within one fuel slice.
func (c Config) WithCallTimeout(d time.Duration) Config { c.callTimeout = d; return c }

// WithPurgeGrace sets how long a purge lets Go calls in flight in the purged
// version finish before it interrupts them (sandboxed mode). Processes that
// linger are killed at once, as in Erlang; a Go call is not a process.
func (c Config) WithPurgeGrace(d time.Duration) Config { c.purgeGrace = d; return c }

// WithCodePath sets the directories searched, in order, for NAME.wasm
// when a module that is not loaded is called or spawned (interactive mode).
func (c Config) WithCodePath(dirs ...string) Config {
	c.codePath = append([]string(nil), dirs...)
	return c
}

// WithInteractive chooses Erlang's interactive mode (true, the default):
// modules are loaded from the code path on first use; or embedded mode
// (false): only modules loaded explicitly exist, anything else is undef.
func (c Config) WithInteractive(on bool) Config { c.interactive = on; return c }

// WithWASI grants WASI (wasi_snapshot_preview1) to the named modules, "*"
// for every module. A granted guest gets stdout and stderr (written to the
// log, line by line), clocks, sleep and random; no files, no environment,
// no arguments, no network. Guests built by Go (GOOS=wasip1) need it.
func (c Config) WithWASI(modules ...string) Config {
	m := make(map[string]bool, len(c.wasi)+len(modules))
	for k := range c.wasi {
		m[k] = true
	}
	for _, name := range modules {
		m[name] = true
	}
	c.wasi = m
	return c
}

func (c Config) grantsWASI(module string) bool { return c.wasi["*"] || c.wasi[module] }

// WithFuel bounds the fuel guest code may use (0, the default: no bound).
// One fuel unit is one Wasm instruction executed (see docs/design.md), so
// the same guest on the same input uses the same fuel on every run and
// every machine. A Go call (with the external calls it makes) may use n
// units; a process may use n units between two calls of receive or sleep,
// the work of handling one message. A process over budget exits with
// reason limit; a Go call fails with ErrLimit. Sandboxed mode only.
func (c Config) WithFuel(n int64) Config { c.fuel = n; return c }

// WithStartTimeout bounds a module's start function (and _initialize) when
// a version is prepared (sandboxed mode; default DefaultStartTimeout). A
// start function that runs longer fails the load.
func (c Config) WithStartTimeout(d time.Duration) Config { c.startTimeout = d; return c }

// WithCompilationCacheDir keeps compiled code in dir (created if needed),
// so that a restarted host loads the modules it has seen before without
// compiling them again. Empty (the default): an in-memory cache only.
func (c Config) WithCompilationCacheDir(dir string) Config { c.cacheDir = dir; return c }

// WithLogRate bounds the guest log lines the host takes, in bytes a
// second over the host (each line counted at its length, cut at
// MaxLogLine, plus its prefix), with a burst of one second's worth: 0 for
// no bound, else at least 64 KiB. Lines past it are dropped and counted
// (Stats.LogLinesDropped), and the next line taken is preceded by one
// saying how many. Default: DefaultLogRate.
func (c Config) WithLogRate(bytesPerSecond int) Config { c.logRate = bytesPerSecond; return c }

// WithLog sets where guest log lines go (nil: discard).
func (c Config) WithLog(w io.Writer) Config {
	if w == nil {
		w = io.Discard
	}
	c.log = w
	return c
}

// WithLogger sets where node events go: each load, failed load, purge,
// soft purge, delete and kill, and each process's exit (logged at info,
// or warn for a failure; a normal exit, a spawn and an upgrade at debug)
// is one record with attributes such as module, vsn, pid, reason, error
// and duration. nil, the default: events are only counted ([Host.Stats]).
// Guest log lines go to [Config.WithLog] whatever the logger.
//
// The handler runs where the event happens: a load's and a purge's
// records while the code lock is held, an exit's on the process's
// goroutine before its exit is visible. A handler that blocks (a full
// pipe) holds those up; one writing to a pipe or a terminal should queue
// and drop rather than wait (wasmhot serve does).
func (c Config) WithLogger(l *slog.Logger) Config { c.logger = l; return c }

// Mode returns the configured execution mode.
func (c Config) Mode() Mode { return c.mode }

// Validate reports what is wrong with the configuration, or nil: every
// bad value, joined. [New] refuses a configuration Validate refuses.
func (c Config) Validate() error {
	var errs []error
	if c.mode != Sandboxed && c.mode != Trusted {
		errs = append(errs, fmt.Errorf("unknown mode %d", int(c.mode)))
	}
	if c.memoryLimitPages < 1 || c.memoryLimitPages > 65536 {
		errs = append(errs, fmt.Errorf("memory limit %d pages: want 1..65536", c.memoryLimitPages))
	}
	for _, l := range []struct {
		name string
		v    int
	}{
		{"max module size", c.maxModuleSize},
		{"max modules", c.maxModules},
		{"max processes", c.maxProcesses},
		{"mailbox limit", c.mailboxLimit},
		{"mailbox bytes", c.mailboxBytes},
		{"max message size", c.maxMessageSize},
	} {
		if l.v < 1 {
			errs = append(errs, fmt.Errorf("%s %d: want >= 1", l.name, l.v))
		}
	}
	if c.memoryBudget < 0 || (c.memoryBudget > 0 && c.memoryBudget < minMemoryBudget) {
		errs = append(errs, fmt.Errorf("memory budget %d bytes: want 0 (no bound) or >= %d", c.memoryBudget, minMemoryBudget))
	}
	if c.maxMessageSize > 1<<30 {
		errs = append(errs, fmt.Errorf("max message size %d: want <= 1 GiB", c.maxMessageSize))
	}
	if c.purgeGrace < 0 || c.purgeGrace > DefaultPurgeTimeout {
		errs = append(errs, fmt.Errorf("purge grace %v: want 0..%v", c.purgeGrace, DefaultPurgeTimeout))
	}
	if c.fuel < 0 || (c.fuel > 0 && c.mode != Sandboxed) {
		errs = append(errs, fmt.Errorf("fuel %d: want >= 0, and only in sandboxed mode", c.fuel))
	}
	if c.startTimeout <= 0 {
		errs = append(errs, fmt.Errorf("start timeout %v: want > 0", c.startTimeout))
	}
	if c.logRate < 0 || (c.logRate > 0 && c.logRate < minLogRate) {
		errs = append(errs, fmt.Errorf("log rate %d bytes a second: want 0 (no bound) or >= %d", c.logRate, minLogRate))
	}
	if c.callTimeout < 0 {
		errs = append(errs, fmt.Errorf("call timeout %v: want >= 0", c.callTimeout))
	}
	errs = append(errs, c.validateHostFuncs()...)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("host: bad config: %w", err)
	}
	return nil
}
