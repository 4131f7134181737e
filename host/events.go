package host

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/wasmhot/wasmhot/modules"
)

// Node events and counters.
//
// Every code change (load, purge, delete), every process's spawn, upgrade
// and exit, and every Go call is counted in atomics that [Host.Stats]
// reads: the numbers behind the metrics of package metrics. The host
// itself depends on no metrics library. With [Config.WithLogger] the same
// events are also logged through log/slog, one record each with
// attributes (module, vsn, pid, reason, duration...); guest log lines
// still go to [Config.WithLog], unchanged.
//
// Counting is cheap where it is hot: a Go call adds one to one of
// callStripes counters, picked by the instance the call borrowed, so that
// callers on different cores rarely write the same cache line; a process
// exit adds one to its reason's counter. The statuses of the processes
// and the module counts are read when Stats is called, not kept.

// Log levels of the events: what happens rarely or needs a look is Info or
// Warn; what happens per process (spawn, upgrade, normal exit) is Debug.
const (
	levelLoad    = slog.LevelInfo
	levelFailure = slog.LevelWarn
	levelPerProc = slog.LevelDebug
)

// exitReasons are the reasons a process exits with, in the order of
// nodeStats.exits.
var exitReasons = [...]Reason{Normal, Killed, Trap, Undef, BadArity, BadArg, Limit}

func reasonIndex(r Reason) int {
	for i, x := range exitReasons {
		if x == r {
			return i
		}
	}
	return -1
}

// reloadBounds are the upper bounds, in seconds, of the buckets of
// Stats.Reload: from 50 µs (a reload of a small module with a compile
// cache hit) to 10 s.
var reloadBounds = [...]float64{
	50e-6, 100e-6, 250e-6, 500e-6,
	1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
	1, 2.5, 5, 10,
}

const callStripes = 16

// stripe is a counter alone on its cache line.
type stripe struct {
	n atomic.Uint64
	_ [56]byte
}

// nodeStats holds a host's counters and its event logger.
type nodeStats struct {
	log *slog.Logger // nil: events are counted, not logged

	loads, loadFailures, purges, deletes atomic.Uint64
	rollbacks, logDropped                atomic.Uint64
	spawns, upgrades, callFailures       atomic.Uint64
	exits                                [len(exitReasons)]atomic.Uint64
	calls                                [callStripes]stripe

	// reload counts the load batches by duration: reload[i] those up to
	// reloadBounds[i] (not cumulative), the last one those above all.
	reload    [len(reloadBounds) + 1]atomic.Uint64
	reloadSum atomic.Int64 // nanoseconds
}

// countCall counts one Go call that borrowed in.
func (s *nodeStats) countCall(in *instance) {
	// Fibonacci hashing of the instance's address picks the stripe.
	k := uint64(uintptr(unsafe.Pointer(in))) * 0x9E3779B97F4A7C15
	s.calls[k>>(64-4)].n.Add(1)
}

// callsTotal adds up the stripes of the call counter.
func (s *nodeStats) callsTotal() uint64 {
	var n uint64
	for i := range s.calls {
		n += s.calls[i].n.Load()
	}
	return n
}

func (s *nodeStats) observeReload(d time.Duration) {
	i := sort.SearchFloat64s(reloadBounds[:], d.Seconds())
	s.reload[i].Add(1)
	s.reloadSum.Add(int64(d))
}

// logs reports whether an event of level would be logged: the caller
// builds the record's attributes only then.
func (s *nodeStats) logs(level slog.Level) bool {
	return s.log != nil && s.log.Enabled(context.Background(), level)
}

func (s *nodeStats) event(level slog.Level, msg string, attrs ...slog.Attr) {
	if s.log != nil {
		s.log.LogAttrs(context.Background(), level, msg, attrs...)
	}
}

func errAttr(err error) slog.Attr { return slog.String("error", err.Error()) }

// noteLoaded counts and logs a batch of modules made current, d after the
// load began.
func (h *Host) noteLoaded(sw []modules.Switch, d time.Duration) {
	s := &h.stats
	s.loads.Add(uint64(len(sw)))
	s.observeReload(d)
	if !s.logs(levelLoad) {
		return
	}
	for _, w := range sw {
		attrs := []slog.Attr{
			slog.String("module", w.Name), slog.Uint64("vsn", w.New.Vsn),
			slog.String("sha256", w.New.SHA256Hex()), slog.Int("size", w.New.Size),
			slog.Duration("duration", d),
		}
		if w.Prev != nil {
			attrs = append(attrs, slog.Uint64("old_vsn", w.Prev.Vsn))
		}
		if len(sw) > 1 {
			attrs = append(attrs, slog.Int("batch", len(sw)))
		}
		s.event(levelLoad, "load", attrs...)
	}
}

// noteLoadFailed counts and logs a load of the named modules that failed
// with err, changing nothing: one record per module, with its own error
// when err names it (a *modules.BatchError), else err.
func (h *Host) noteLoadFailed(names []string, err error) {
	s := &h.stats
	s.loadFailures.Add(uint64(len(names)))
	if !s.logs(levelFailure) {
		return
	}
	var own map[string]error
	if be := (*modules.BatchError)(nil); errors.As(err, &be) {
		own = make(map[string]error, len(be.Errs))
		for _, e := range be.Errs {
			own[e.Module] = e.Err
		}
	}
	for _, name := range names {
		e := err
		if me := own[name]; me != nil {
			e = me
		} else if own != nil {
			e = errBatchFailed
		}
		s.event(levelFailure, "load failed", slog.String("module", name), errAttr(e))
	}
}

// errBatchFailed is the error logged for a module that was fine but
// loaded with others, one of which failed.
var errBatchFailed = batchFailedError{}

type batchFailedError struct{}

func (batchFailedError) Error() string {
	return "another module of the same atomic load failed; nothing was loaded"
}

func sourceNames(srcs []Source) []string {
	names := make([]string, len(srcs))
	for i, s := range srcs {
		names[i] = s.Name
	}
	return names
}

// notePurged counts and logs the purge of name's old version vsn.
func (h *Host) notePurged(name string, vsn uint64, res PurgeResult, reload bool, d time.Duration, err error) {
	s := &h.stats
	s.purges.Add(1)
	level := levelLoad
	if err != nil {
		level = levelFailure
	}
	if !s.logs(level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("module", name), slog.Uint64("vsn", vsn),
		slog.Int("killed", res.Killed), slog.Int("interrupted", res.Interrupted),
		slog.Int("waited", res.Waited), slog.Int("detached", res.Detached),
		slog.Bool("reload", reload), slog.Duration("duration", d),
	}
	if err != nil {
		attrs = append(attrs, errAttr(err))
	}
	s.event(level, "purge", attrs...)
}

// noteSoftPurged counts and logs a soft purge of name's old version vsn
// that freed it (or, logged at debug level, found it still in use).
func (h *Host) noteSoftPurged(name string, vsn uint64, freed bool) {
	s := &h.stats
	if freed {
		s.purges.Add(1)
		s.event(levelLoad, "soft purge", slog.String("module", name), slog.Uint64("vsn", vsn), slog.Bool("freed", true))
		return
	}
	if s.logs(levelPerProc) {
		s.event(levelPerProc, "soft purge", slog.String("module", name), slog.Uint64("vsn", vsn), slog.Bool("freed", false))
	}
}

// noteDeleted counts and logs the delete of name, whose current version
// vsn became old.
func (h *Host) noteDeleted(name string, vsn uint64) {
	h.stats.deletes.Add(1)
	h.stats.event(levelLoad, "delete", slog.String("module", name), slog.Uint64("vsn", vsn))
}

// noteRolledBack counts and logs a rollback of sw.Name: sw.New, the old
// version, is current again; sw.Prev (nil after a delete) is old.
func (h *Host) noteRolledBack(sw modules.Switch, d time.Duration) {
	s := &h.stats
	s.rollbacks.Add(1)
	if !s.logs(levelLoad) {
		return
	}
	attrs := []slog.Attr{slog.String("module", sw.Name), slog.Uint64("vsn", sw.New.Vsn),
		slog.String("sha256", sw.New.SHA256Hex()), slog.Duration("duration", d)}
	if sw.Prev != nil {
		attrs = append(attrs, slog.Uint64("old_vsn", sw.Prev.Vsn))
	}
	s.event(levelLoad, "rollback", attrs...)
}

// noteSpawn counts and logs p's start in function of vsn.
func (h *Host) noteSpawn(p *process, vsn uint64, function string) {
	s := &h.stats
	s.spawns.Add(1)
	if s.logs(levelPerProc) {
		s.event(levelPerProc, "spawn", slog.String("pid", p.id.String()), slog.String("module", p.module),
			slog.Uint64("vsn", vsn), slog.String("function", function))
	}
}

// noteUpgrade counts and logs p's move from version from to vsn at a
// continue.
func (h *Host) noteUpgrade(p *process, from, vsn uint64) {
	s := &h.stats
	s.upgrades.Add(1)
	if s.logs(levelPerProc) {
		s.event(levelPerProc, "upgrade", slog.String("pid", p.id.String()), slog.String("module", p.module),
			slog.Uint64("from_vsn", from), slog.Uint64("vsn", vsn))
	}
}

// noteKill logs a kill of p asked for through the Go API (Host.Kill); its
// exit follows.
func (h *Host) noteKill(p *process) {
	s := &h.stats
	if s.logs(levelLoad) {
		s.event(levelLoad, "kill", slog.String("pid", p.id.String()), slog.String("module", p.module))
	}
}

// noteExit counts and logs p's exit, in vsn (0: it had no instance). A
// normal exit is logged at debug level, a kill at info, any other reason
// at warn.
func (h *Host) noteExit(p *process, vsn uint64, e Exit) {
	s := &h.stats
	if i := reasonIndex(e.Reason); i >= 0 {
		s.exits[i].Add(1)
	}
	level := levelFailure
	switch e.Reason {
	case Normal:
		level = levelPerProc
	case Killed:
		level = levelLoad
	}
	if !s.logs(level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("pid", p.id.String()), slog.String("module", p.module), slog.Uint64("vsn", vsn),
		slog.String("reason", string(e.Reason)), slog.Duration("duration", time.Since(p.started)),
	}
	if e.Err != nil {
		attrs = append(attrs, errAttr(e.Err))
	}
	s.event(level, "exit", attrs...)
}

// vsn is the version of in's code (0: no instance).
func (in *instance) vsn() uint64 {
	if in == nil {
		return 0
	}
	return in.code.ver.Vsn
}

// countCallFailure counts a Go call that failed, and returns err.
func (h *Host) countCallFailure(err error) error {
	if err != nil {
		h.stats.callFailures.Add(1)
	}
	return err
}

// Stats is a snapshot of a node's counters and gauges ([Host.Stats]): the
// numbers behind its metrics (package metrics makes them a Prometheus
// collector). Counters count from [New] and never go down.
type Stats struct {
	// Loads counts the versions made current by a load (Load, AtomicLoad,
	// Reload, ReloadAll, Finish, and loads from the code path): one per
	// module of each batch that loaded.
	Loads uint64
	// LoadFailures counts the modules of the loads that failed and changed
	// nothing: one per module of each failed batch.
	LoadFailures uint64
	// Purges counts the old versions freed: by Purge, by a SoftPurge that
	// found nothing holding them, by Reload before its load.
	Purges uint64
	// Deletes counts the deletes that made a module's current code old.
	Deletes uint64
	// Rollbacks counts the rollbacks that made a module's old code
	// current again (Rollback).
	Rollbacks uint64
	// Spawns counts the processes started (by Go and by guests); Upgrades
	// the moves of a process to a new version at a continue.
	Spawns, Upgrades uint64
	// Calls counts the Go calls into guests that reached a guest instance
	// (Call, Func.Call, CallWithStack, CallBytes); external calls between
	// guests are not counted. CallFailures counts the Go calls that
	// failed, whether or not they reached a guest (undef, badarity, a trap,
	// a limit...).
	Calls, CallFailures uint64
	// Exits counts the processes that exited, by reason; every reason has
	// an entry.
	Exits map[Reason]uint64
	// Processes counts the live processes by status: Running and
	// Suspended (blocked in receive or sleep) each have an entry.
	Processes map[Status]int
	// Modules counts the module names with current or old code;
	// OldVersions those of them with old code (not purged yet).
	Modules, OldVersions int
	// Memory is what the node's memory budget holds ([Host.MemoryUsage]).
	Memory MemoryUsage
	// LogLinesDropped counts the log lines dropped: guest lines over the
	// log rate ([Config.WithLogRate]) and lines that found the queue to
	// a slow log output full.
	LogLinesDropped uint64
	// Reload is the time each successful load took, one observation per
	// batch: from the start of preparing the code (reading, compiling,
	// checking, the trial instance) to the switch, a reload's purge of the
	// old code included.
	Reload Histogram
}

// Histogram is a snapshot of a distribution of durations, in seconds, in
// the form Prometheus uses.
type Histogram struct {
	// Bounds are the buckets' upper bounds, ascending.
	Bounds []float64
	// Counts[i] is the number of observations <= Bounds[i] (cumulative).
	Counts []uint64
	// Count is the number of observations, Sum their total in seconds.
	Count uint64
	Sum   float64
}

// Stats returns a snapshot of the node's counters and gauges. It is cheap
// enough to call at every scrape: it counts the processes by status and
// the modules, without copying them. The counters are read one by one, so
// an operation running meanwhile may be in some and not yet in others.
func (h *Host) Stats() Stats {
	s := &h.stats
	st := Stats{
		Loads:        s.loads.Load(),
		LoadFailures: s.loadFailures.Load(),
		Purges:       s.purges.Load(),
		Deletes:      s.deletes.Load(),
		Rollbacks:    s.rollbacks.Load(),
		Spawns:       s.spawns.Load(),
		Upgrades:     s.upgrades.Load(),
		CallFailures: s.callFailures.Load(),
		Exits:        make(map[Reason]uint64, len(exitReasons)),
		Memory:       h.MemoryUsage(),
	}
	st.LogLinesDropped = s.logDropped.Load() + uint64(h.logOut.Dropped())
	st.Calls = s.callsTotal()
	for i, r := range exitReasons {
		st.Exits[r] = s.exits[i].Load()
	}
	running, suspended := h.procs.statuses()
	st.Processes = map[Status]int{Running: running, Suspended: suspended}
	st.Modules, st.OldVersions = h.table.Counts()
	st.Reload = Histogram{
		Bounds: append([]float64(nil), reloadBounds[:]...),
		Counts: make([]uint64, len(reloadBounds)),
		Sum:    time.Duration(s.reloadSum.Load()).Seconds(),
	}
	for i := range s.reload {
		st.Reload.Count += s.reload[i].Load()
		if i < len(reloadBounds) {
			st.Reload.Counts[i] = st.Reload.Count
		}
	}
	return st
}

// statuses counts the live processes running and suspended.
func (t *procTable) statuses() (running, suspended int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, p := range t.byHandle {
		switch p.status.Load() {
		case Running:
			running++
		case Suspended:
			suspended++
		}
	}
	return running, suspended
}
