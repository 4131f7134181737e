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
	// Detach sets the version apart from its module before Free, for a
	// purge that does not wait for the calls in flight (Options.Detach):
	// it is no longer the module's old code, so a new version can be
	// loaded at once, while the calls still running in it finish.
	Detach()
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
	// Detached is the number of calls in flight that a purge with
	// Options.Detach left running in the detached version: each finishes
	// there, or is stopped as an interrupted call would be.
	Detached int
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
	// Detach makes Purge return without waiting for the calls in flight:
	// it kills and waits for the lingering processes as always, detaches
	// the version (Target.Detach) and leaves the rest (the grace, the
	// interruption, the final check for processes and Free) to a goroutine
	// that ends when the last call has left. A Go call descheduled in the
	// middle of a call then costs the purge nothing; without Detach, the
	// purge waits for it to be scheduled again.
	Detach bool
	// Detached, when set, is called with what the detached part of a
	// purge did (its Result counts only that part), once t is freed.
	Detached func(Result, error)
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
	g.Close()
	n := int(g.InFlight())
	if n > 0 && opts.Detach {
		res.Detached = n
		err := waitExited(ctx, procs)
		dctx, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
		if d, ok := ctx.Deadline(); ok {
			dctx, cancel = context.WithDeadline(dctx, d)
		}
		t.Detach()
		go func() {
			defer cancel()
			r, err := drain(dctx, t, opts, procs, n)
			if opts.Detached != nil {
				opts.Detached(r, err)
			}
		}()
		return res, err
	}
	r, err := drain(ctx, t, opts, procs, n)
	r.Killed += res.Killed
	return r, err
}

// drain waits for the n calls that were in flight in t when its gate
// closed, as opts says; kills the processes that entered t meanwhile,
// waits for them and for procs (killed before) to exit; and frees t. Its
// result does not count procs.
func drain(ctx context.Context, t Target, opts Options, procs []Process, n int) (Result, error) {
	var res Result
	g := t.Gate()
	gctx, cancel := ctx, context.CancelFunc(func() {})
	if opts.Interruptible {
		gctx, cancel = context.WithTimeout(ctx, opts.Grace)
	}
	defer cancel()
	if n > 0 {
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
	if werr := waitExited(ctx, procs); err == nil {
		err = werr
	}
	t.Free()
	return res, err
}

// waitExited waits until every process in procs has exited, or ctx ends.
func waitExited(ctx context.Context, procs []Process) error {
	for _, p := range procs {
		select {
		case <-p.Done():
		case <-ctx.Done():
			return fmt.Errorf("purger: killed process still running: %w", ctx.Err())
		}
	}
	return nil
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
