package purger

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrPurged is the error of a call that was in flight in a version when the
// version was purged.
var ErrPurged = errors.New("purger: code purged")

// Process is a process as the purger sees it.
type Process interface {
	// Kill ends the process with reason killed. It does not wait.
	Kill()
	// Done is closed when the process has exited.
	Done() <-chan struct{}
}

// Target is one version of a module as the purger sees it.
type Target interface {
	// Gate counts the calls in flight in the version.
	Gate() *Gate
	// Lingering returns the processes lingering in the version now.
	Lingering() []Process
	// InterruptCalls stops the calls in flight in the version, where the
	// engine can interrupt running code; each fails with ErrPurged.
	InterruptCalls()
	// Free releases the version: its instances, its compiled code, its old
	// slot. It runs once, when nothing holds the version.
	Free()
}

// Result says what a purge did.
type Result struct {
	// Killed is the number of processes killed because they lingered.
	Killed int
	// Interrupted is the number of calls in flight that were stopped and
	// failed with ErrPurged.
	Interrupted int
	// Waited is the number of calls in flight that the purge waited for:
	// within the grace period, or all of them where the engine cannot stop
	// running code (trusted mode).
	Waited int
}

// KilledAny reports whether the purge killed a process; it is the boolean
// code:purge/1 returns.
func (r Result) KilledAny() bool { return r.Killed > 0 }

// SoftPurge frees t when no process lingers in it, no call is in flight in
// it and no call chain may still enter it, and reports whether it did. It kills nothing; while t is checked, new calls
// into t are turned back to the current version.
func SoftPurge(t Target) bool {
	g := t.Gate()
	g.Close()
	if g.InFlight() > 0 || len(t.Lingering()) > 0 {
		g.reopen()
		return false
	}
	t.Free()
	return true
}

// Options tune [Purge].
type Options struct {
	// Interruptible says the engine can stop running code (sandboxed mode).
	Interruptible bool
	// Grace is how long Purge lets calls in flight finish before it
	// interrupts them (interruptible only). Go calls are not processes: a
	// call that started in a version just before it became old usually ends
	// in microseconds, and should not fail because a reload came by.
	Grace time.Duration
}

// Purge kills the processes lingering in t, lets the calls in flight in t
// finish for opts.Grace and then stops them (interruptible) or waits for
// them (not interruptible), then frees t. If ctx ends before the last
// holder is gone, Purge frees t anyway and returns the result so far with an
// error: the holders that did not stop (a trusted guest spinning in Wasm)
// end with ErrPurged when they next leave Wasm.
func Purge(ctx context.Context, t Target, opts Options) (Result, error) {
	var res Result
	g := t.Gate()
	procs := t.Lingering()
	for _, p := range procs {
		p.Kill()
	}
	res.Killed = len(procs)
	gctx, cancel := ctx, context.CancelFunc(func() {})
	if opts.Interruptible {
		gctx, cancel = context.WithTimeout(ctx, opts.Grace)
	}
	defer cancel()
	g.Close()
	if n := int(g.InFlight()); n > 0 {
		if opts.Interruptible {
			if err := g.Wait(gctx); err != nil {
				res.Interrupted = min(n, int(g.InFlight()))
				t.InterruptCalls()
			}
			res.Waited = n - res.Interrupted
		} else {
			res.Waited = n
		}
	}
	var err error
	if werr := g.Wait(ctx); werr != nil {
		err = fmt.Errorf("purger: %d calls still in flight: %w", g.InFlight(), werr)
		t.InterruptCalls()
	}
	// Calls that were in flight may have been processes entering the code.
	killed := make(map[Process]bool, len(procs))
	for _, p := range procs {
		killed[p] = true
	}
	for _, p := range t.Lingering() {
		if !killed[p] {
			p.Kill()
			res.Killed++
			procs = append(procs, p)
		}
	}
	for _, p := range procs {
		select {
		case <-p.Done():
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("purger: killed process still running: %w", ctx.Err())
			}
		}
	}
	t.Free()
	return res, err
}

// CheckProcessCode reports whether p lingers in t, like
// erlang:check_process_code/2.
func CheckProcessCode(t Target, p Process) bool {
	for _, q := range t.Lingering() {
		if q == p {
			return true
		}
	}
	return false
}
