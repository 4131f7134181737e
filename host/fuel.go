package host

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmhot/wasmhot/modules"
	"github.com/wasmhot/wasmhot/rewrite"
)

// Fuel.
//
// In sandboxed mode every guest is rewritten at load (package rewrite):
// each basic block subtracts its instruction count from a fuel counter
// that the instance carries, and function entries and loop headers call
// the host's tick when the counter is negative. The host grants fuel in
// slices of fuelSlice units, so every running guest calls tick at least
// once per slice. tick is the single place where a running guest can be
// stopped (kill, purge, Close, a cancelled ctx, a call timeout), where its
// fuel is charged to its process or Go call, and where the Go scheduler
// and garbage collector get the goroutine back.

// fuelSlice is the fuel granted between two ticks: 8 to 15 µs of guest
// code on this class of machine (16 to 33 instructions a nanosecond), the
// bound on how long a guest runs before it notices a kill. A tick costs
// about as much as a host call, well under 1 % of a slice.
const fuelSlice = 250_000

// yieldEvery is how often a guest that keeps running yields its CPU at a
// tick (runtime.Gosched), as a Go loop would be preempted: other
// goroutines, and the garbage collector's workers, get a CPU every half
// millisecond rather than when the scheduler's 10 ms preemption comes
// round. A yield with nothing else to run costs little; one that lets
// another goroutine in costs that goroutine's time slice, hence not every
// tick.
const yieldEvery = 500 * time.Microsecond

// rewriteOptions is how sandboxed hosts rewrite guests.
var rewriteOptions = rewrite.Options{Fuel: true, InitialFuel: fuelSlice, Link: true, External: isGuestModule, MaxFrames: MaxFrames}

// MaxFrames bounds the depth of a sandboxed guest's calls, per instance:
// a call deeper fails with reason limit. Without it, wazero lets one
// call's stack grow to 400 MB, which the memory budget cannot see. A
// frame takes 50 bytes of stack (a plain call) to 400 (an external call
// through the link table). wazero grows a call's stack by copying it to
// one twice the size, so a call that runs into the bound from a fresh
// instance allocates about twice its final stack: at 10,000 frames, up
// to 8 MiB; at 50,000, 41 MiB and 60 ms of copying, which a guest
// recursing without end in a loop turned into a third of a node's CPU
// and most of its garbage.
const MaxFrames = 10_000

// overFrames reports whether in, or an instance of its family, trapped
// at the frame bound.
func (in *instance) overFrames() bool {
	if over := func(i *instance) bool { return i.frames != nil && int32(uint32(i.frames.Get())) > MaxFrames }; over(in) {
		return true
	} else if f := in.fam; f != nil {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.callees {
			if over(c) {
				return true
			}
		}
	}
	return false
}

// errFrames is the cause of a failure at the frame bound.
var errFrames = fmt.Errorf("%w: calls nested deeper than %d frames", ErrLimit, MaxFrames)

// isGuestModule says whether an import module is another guest module:
// calls to its functions are external calls.
func isGuestModule(module string) bool {
	return module != ABIModule && module != wasiModule && modules.ValidName(module)
}

// account is what a process or a Go call spends: total fuel used, and the
// fuel used since the budget last refilled, checked against limit (0: no
// limit). A process refills its budget at each receive and sleep; a Go
// call's budget covers the whole call, nested external calls included.
type account struct {
	total atomic.Int64 // read by Processes
	since int64        // only the owner's goroutine touches it
	limit int64
}

// charge records n units used, and reports whether the budget is exceeded.
func (a *account) charge(n int64) bool {
	if a == nil {
		return false
	}
	a.total.Add(n)
	a.since += n
	return a.limit > 0 && a.since > a.limit
}

// grant is the fuel an instance gets for its next slice.
func (a *account) grant() int64 {
	if a == nil || a.limit == 0 {
		return fuelSlice
	}
	return max(0, min(fuelSlice, a.limit-a.since))
}

// refill starts a new budget period (a process's receive or sleep).
func (a *account) refill() { a.since = 0 }

// exceeded is the error of a call or process over its budget.
func (a *account) exceeded() error {
	return fmt.Errorf("%w: used more than %d fuel", ErrLimit, a.limit)
}

type ctxAccountKey struct{}

// accountFrom returns the account of the process or Go call running on
// ctx: a process's own, or the one a budgeted Go call put in its ctx.
func accountFrom(ctx context.Context, p *process) *account {
	if p != nil {
		return p.acct
	}
	a, _ := ctx.Value(ctxAccountKey{}).(*account)
	return a
}

// callAccount starts the account of a Go call: none without a budget, so
// that an unbudgeted call allocates nothing.
func (h *Host) callAccount(ctx context.Context) (context.Context, *account) {
	if h.cfg.fuel == 0 || h.cfg.mode != Sandboxed {
		return ctx, nil
	}
	if a, ok := ctx.Value(ctxAccountKey{}).(*account); ok {
		return ctx, a // a nested call of the same Go call
	}
	a := &account{limit: h.cfg.fuel}
	return context.WithValue(ctx, ctxAccountKey{}, a), a
}

// fuelIn fills in's counter for a call charged to a, first charging what
// in used since its last charge (through link calls into it).
func (in *instance) fuelIn(a *account) {
	if in.fuel == nil {
		return
	}
	a.charge(in.granted - int64(in.fuel.Get()))
	in.granted = a.grant()
	in.fuel.Set(uint64(in.granted))
}

// fuelOut charges a with what the call on in used since its last grant.
// It reports whether that exceeded the budget (the next tick would have
// stopped the guest; the call ended first).
func (in *instance) fuelOut(a *account) bool {
	if in.fuel == nil || a == nil {
		return false
	}
	left := int64(in.fuel.Get())
	over := a.charge(in.granted - left)
	in.granted = left // charged up to here
	if f := in.fam; f.linkedN.Load() > 0 {
		f.settleFuel(a) // the linked instances' use since their last tick
		over = a.limit > 0 && a.since > a.limit
	}
	return over
}

// callMetered calls f, an export of in, charging the fuel it uses to a; over
// reports that it used more than a's budget allowed (the next tick would
// have stopped it; the call ended first). p is the process on this
// goroutine (nil: a Go call), which leaves host code for the call.
func (in *instance) callMetered(ctx context.Context, p *process, a *account, f api.Function, stack []uint64) (over bool, err error) {
	if p != nil {
		p.leaveHost()
	}
	in.fuelIn(a)
	err = f.CallWithStack(ctx, stack)
	if p != nil {
		p.enterHost()
	}
	return in.fuelOut(a), err
}

// instantiateRuntime instantiates the host module of the functions the
// rewrite injects.
func (h *Host) instantiateRuntime(ctx context.Context) error {
	_, err := h.r.NewHostModuleBuilder(rewrite.RuntimeModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(h.tick), []api.ValueType{api.ValueTypeI64}, []api.ValueType{api.ValueTypeI64}).
		Export(rewrite.TickFunction).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(h.inlineResolve), []api.ValueType{api.ValueTypeI32}, []api.ValueType{funcref}).
		Export(rewrite.ResolveFunction).Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("host: instantiate %s: %w", rewrite.RuntimeModule, err)
	}
	return nil
}

// tick is called by a guest whose fuel ran out (stack[0] holds the
// negative counter). It stops the guest if it must, charges the slice it
// used, and grants the next one.
func (h *Host) tick(ctx context.Context, m api.Module, stack []uint64) {
	p := procFrom(ctx)
	if p != nil {
		p.tickSafepoint()
	}
	switch {
	case p != nil && p.killed():
		exit(p, Killed, nil)
	case m.IsClosed(): // by a purge, a kill or Close
		exit(p, Killed, fmt.Errorf("instance closed: %w", ErrPurged))
	case h.closed.Load():
		exit(p, Killed, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		exit(p, Killed, err)
	}
	in := h.instanceOf(m)       // nil while a start function runs
	granted := int64(fuelSlice) // what a start function began with
	if in != nil {
		granted = in.granted
	}
	a := accountFrom(ctx, p)
	if a.charge(granted - int64(stack[0])) {
		exit(p, Limit, a.exceeded())
	}
	g := a.grant()
	if in != nil && p == nil && len(in.fam.tickets) > 0 {
		in.fam.releaseWaited()
	}
	if in != nil {
		in.granted = g
		if p != nil {
			p.hostYield()
		} else if now := time.Now(); now.Sub(in.yielded) >= yieldEvery {
			if !in.yielded.IsZero() {
				runtime.Gosched()
			}
			in.yielded = now
		}
	}
	stack[0] = uint64(g)
}
