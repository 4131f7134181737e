package host

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmhot/wasmhot/modules"
)

// PID identifies a process outside guests: a github.com/google/uuid UUID
// (random, version 4), whose String is the text form the CLI and the
// control API use and which uuid.Parse reads back. Inside guests a
// process is an i64 handle (> 0), unique in its host; ProcessInfo.Handle
// gives it.
type PID = uuid.UUID

// Reason is why a process exited.
type Reason string

// Exit reasons.
const (
	Normal   Reason = "normal"   // its entry function returned without continue
	Killed   Reason = "killed"   // purged, or killed from Go, or the host closed
	Trap     Reason = "trap"     // its Wasm trapped; Exit.Err has the error
	Undef    Reason = "undef"    // it called or continued to a missing function
	BadArity Reason = "badarity" // it called or continued with the wrong signature
	BadArg   Reason = "badarg"   // it passed the host a bad pointer, length or name
	Limit    Reason = "limit"    // it hit a configured limit
)

// Exit is the end of a process: its reason and, for anything but normal and
// killed, the error that caused it.
type Exit struct {
	Reason Reason
	Err    error
}

func (e Exit) String() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Reason, e.Err)
	}
	return string(e.Reason)
}

// Status is a process's state in the process table.
type Status string

// Process statuses.
const (
	Running   Status = "running"
	Suspended Status = "suspended" // blocked in receive or sleep
	Exited    Status = "exited"
)

type ctxProcKey struct{}

func procFrom(ctx context.Context) *process {
	p, _ := ctx.Value(ctxProcKey{}).(*process)
	return p
}

// process is a guest process: a goroutine running one instance of one
// version at a time, a mailbox and a state.
type process struct {
	h      *Host
	handle int64
	id     PID
	module string
	ctx    context.Context
	mbox   *mailbox
	// started is when p was spawned (for its exit event).
	started time.Time

	killOnce sync.Once
	killCh   chan struct{} // closed by Kill
	done     chan struct{} // closed on exit

	status atomic.Value // Status

	mu    sync.Mutex
	inst  *instance // own instance: the version it runs
	state []byte
	exit  Exit
	// fail is a reason set by a host function before it unwinds the guest.
	fail *Exit
	// cont is the continue target set during the running call.
	cont string
	// entry is the function p last entered (spawn or continue): where a
	// code change from outside goes on (syscode.go).
	entry string
	// sys is p's suspension (Host.Suspend); restart a code change made in
	// its receive, which unwound the running call.
	sys     sysState
	restart *restart
	// fam holds one instance per version p calls into (link tables and
	// host calls); each version counts p's host calls into it (stacks).
	fam family
	// sp counts p's safepoints (safepoint.go).
	sp safepoints
	// acct counts the fuel p uses (sandboxed mode) against its budget.
	acct *account
	// hasCPU: p holds one of the host's CPU tokens (cpu.go); only p's
	// goroutine reads or writes it.
	hasCPU bool
	// yielded is when p last took its token (cpu.go).
	yielded time.Time
}

// Kill implements purger.Process: the process ends with reason killed.
// Running Wasm is interrupted (sandboxed mode) and a receive or sleep wakes.
func (p *process) Kill() {
	p.killOnce.Do(func() {
		close(p.killCh)
		select { // wake a receive
		case p.mbox.notify <- struct{}{}:
		default:
		}
		p.mu.Lock()
		in := p.inst
		p.mu.Unlock()
		if in != nil {
			in.close(exitKilled)
		}
	})
}

// Done implements purger.Process.
func (p *process) Done() <-chan struct{} { return p.done }

func (p *process) killed() bool {
	select {
	case <-p.killCh:
		return true
	default:
		return false
	}
}

func (p *process) setStatus(s Status) { p.status.Store(s) }

// suspend marks p blocked in receive or sleep; resume, running again.
// suspend marks p blocked (receive, sleep) and gives up its CPU token.
func (p *process) suspend() {
	p.setStatus(Suspended)
	p.dropCPU()
}

// resume marks p running once it has a CPU token again; false when it was
// killed while it waited for one.
func (p *process) resume() bool {
	p.setStatus(Running)
	return p.takeCPU()
}

// Spawn starts a process running module:function (an export of type
// () -> ()) of the module's current version, with state as its initial
// state. It fails with ErrUndef, ErrBadArity, or ErrLimit when the host
// has DefaultMaxProcesses (or the configured number) live processes.
func (h *Host) Spawn(ctx context.Context, module, function string, state []byte) (PID, error) {
	p, err := h.spawn(ctx, module, function, state)
	if err != nil {
		return PID{}, h.closedErr(err)
	}
	return p.id, nil
}

var entrySig = modules.Signature{}

func (h *Host) spawn(ctx context.Context, module, function string, state []byte) (*process, error) {
	if err := h.checkOpen(); err != nil {
		return nil, err
	}
	if err := modules.CheckName(module); err != nil {
		return nil, err
	}
	if len(state) > h.cfg.maxMessageSize {
		return nil, fmt.Errorf("spawn %s:%s: %w: state of %d bytes, limit %d", module, function, ErrLimit, len(state), h.cfg.maxMessageSize)
	}
	if err := modules.CheckFunctionName(function); err != nil {
		return nil, err
	}
	p := &process{
		h:      h,
		id:     uuid.New(),
		module: module,
		mbox:   newMailbox(h.cfg.mailboxLimit, max(h.cfg.mailboxBytes, h.cfg.maxMessageSize), &h.mem),
		killCh: make(chan struct{}),
		done:   make(chan struct{}),
		sys:    sysState{req: make(chan *changeReq), wake: make(chan struct{}, 1)},
		state:  append([]byte(nil), state...),

		acct:    &account{limit: h.cfg.fuel},
		started: time.Now(),
	}
	p.fam.proc = p
	p.ctx = context.WithValue(context.Background(), ctxProcKey{}, p)
	p.setStatus(Running)
	if !h.mem.charge(p.cost()) {
		return nil, fmt.Errorf("spawn %s:%s: %w: the node's memory budget of %d bytes is used up", module, function, ErrLimit, h.mem.limit)
	}
	if !h.procs.add(p, h.cfg.maxProcesses) {
		h.mem.release(p.cost())
		return nil, fmt.Errorf("spawn %s:%s: %w: %d processes", module, function, ErrLimit, h.cfg.maxProcesses)
	}
	t, entered := h.enterName(ctx, module, function, isEntry)
	switch {
	case t == nil:
		h.procs.abort(p)
		return nil, undefErr(module, function)
	case !entered:
		h.procs.abort(p)
		return nil, badArity(module, function, "entry points are ()->(), not %s", t.sig)
	}
	c := t.code
	in, err := c.instantiate(ctx, &p.fam)
	if err != nil {
		c.gate.Leave()
		h.procs.abort(p)
		return nil, err
	}
	p.mu.Lock() // the process is in the table: Kill and Processes read inst
	p.inst = in
	p.mu.Unlock()
	c.hold(p)
	c.gate.Leave()
	h.noteSpawn(p, c.ver.Vsn, function)
	go p.run(t)
	return p, nil
}

// cost is what a process holds of the memory budget besides its
// instances' memories and its queued messages: a fixed cost and its state.
// The caller holds p.mu, or p is not shared yet.
func (p *process) cost() int64 { return processCost + int64(len(p.state)) }

// isEntry accepts the targets a process can run: () -> ().
func isEntry(t *target) bool { return t.sig.Equal(entrySig) }

// run is the process goroutine: it calls the entry, then each continue
// target, upgrading to the current version where it changed.
func (p *process) run(t *target) {
	p.enterHost() // the host code between calls is a safepoint
	exit := Exit{Reason: Killed}
	if p.takeCPU() {
		exit = p.loopSafe(t)
		p.dropCPU()
	}
	p.fam.ownerDone.Store(true)
	p.mbox.close()
	p.mu.Lock()
	in := p.inst
	p.inst = nil
	p.exit = exit
	cost := p.cost()
	p.state = nil
	p.mu.Unlock()
	p.h.mem.release(cost)
	if in != nil {
		in.code.release(p)
		in.close(0)
	}
	p.fam.close()
	p.setStatus(Exited)
	p.h.procs.exited(p)
	p.h.noteExit(p, in.vsn(), exit)
	close(p.done)
	// p's goroutine runs no Wasm any more. Unmapping after the exit is
	// reported keeps it out of a kill's latency (munmap waits for the
	// other CPUs to drop the range from their TLBs).
	p.fam.unmapFreed()
}

// loopSafe runs loop, turning a panic in host code into the process's exit
// (reason trap), logged, so that it never takes the node down.
func (p *process) loopSafe(t *target) (exit Exit) {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("host panic: %v", r)
			p.h.logLine(nil, p, []byte(err.Error()))
			exit = Exit{Reason: Trap, Err: err}
		}
	}()
	return p.loop(t)
}

func (p *process) loop(t *target) Exit {
	stack := make([]uint64, 1)
	for {
		if p.killed() {
			return Exit{Reason: Killed}
		}
		p.mu.Lock()
		in := p.inst
		p.cont = ""
		p.entry = in.code.ver.Exports[t.idx].Name
		p.mu.Unlock()
		over, err := in.callMetered(p.ctx, p, p.acct, in.fn(t.idx), stack)
		if r := p.takeRestart(); r != nil {
			// ChangeCode moved p to a new instance in its receive and
			// unwound the old one's call.
			r.old.code.release(p)
			r.old.close(0)
			p.h.noteUpgrade(p, r.old.code.ver.Vsn, r.t.code.ver.Vsn)
			t = r.t
			continue
		}
		if err != nil {
			return p.failure(in, t, err)
		}
		if over {
			return p.overBudget()
		}
		p.mu.Lock()
		cont := p.cont
		p.mu.Unlock()
		if cont == "" {
			return Exit{Reason: Normal}
		}
		next, exit := p.upgrade(cont)
		if next == nil {
			return exit
		}
		t = next
	}
}

// failure turns the error of a guest call into the process's exit.
func (p *process) failure(in *instance, t *target, err error) Exit {
	if p.killed() {
		return Exit{Reason: Killed}
	}
	p.mu.Lock()
	f := p.fail
	p.mu.Unlock()
	if f != nil {
		return *f
	}
	var ee *sys.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 0 {
		return Exit{Reason: Normal} // WASI proc_exit(0)
	}
	c := in.code
	if in.overFrames() {
		return Exit{Reason: Limit, Err: callErr(c.ver.Name, c.ver.Exports[t.idx].Name, c.ver.Vsn, Limit, fmt.Errorf("%w: %w", errFrames, err))}
	}
	if p.fam.overBudget.Load() {
		return Exit{Reason: Limit, Err: callErr(c.ver.Name, c.ver.Exports[t.idx].Name, c.ver.Vsn, Limit, fmt.Errorf("%w: memory budget used up (the guest could not grow its memory): %w", ErrLimit, err))}
	}
	return Exit{Reason: Trap, Err: callErr(c.ver.Name, c.ver.Exports[t.idx].Name, c.ver.Vsn, Trap, err)}
}

// upgrade resolves ?MODULE:fn through the export table after a continue.
// The same version keeps the same instance; a new version gets a new
// instance that inherits the state, runs code_change when it exports it,
// and replaces the old instance, which is closed. A code_change of ABI v2
// that refuses (or fails) leaves p in its old instance with its old
// state, going on with fn there.
func (p *process) upgrade(fn string) (*target, Exit) {
	slot := p.h.findSlot(p.module, fn)
	if slot == nil {
		return nil, Exit{Reason: Undef, Err: undefErr(p.module, fn)}
	}
	for {
		t := slot.Lookup()
		if slot.Retired() {
			if slot = p.h.findSlot(p.module, fn); slot == nil {
				return nil, Exit{Reason: Undef, Err: undefErr(p.module, fn)}
			}
			continue
		}
		if t == nil {
			return nil, Exit{Reason: Undef, Err: undefErr(p.module, fn)}
		}
		if !t.sig.Equal(entrySig) {
			return nil, Exit{Reason: BadArity, Err: badArity(p.module, fn, "continue targets are ()->(), not %s", t.sig)}
		}
		p.mu.Lock()
		old := p.inst
		p.mu.Unlock()
		c := t.code
		if c == old.code {
			return t, Exit{}
		}
		if !c.gate.Enter() {
			continue
		}
		in, err := c.instantiate(p.ctx, &p.fam)
		if err != nil {
			c.gate.Leave()
			return nil, Exit{Reason: Trap, Err: err}
		}
		c.hold(p)
		c.gate.Leave()
		p.mu.Lock()
		p.inst = in
		saved := slices.Clone(p.state)
		p.mu.Unlock()
		if p.killed() { // a kill that closed the old instance
			old.code.release(p)
			old.close(0)
			return nil, Exit{Reason: Killed}
		}
		ex, refused := p.codeChange(in, old.code.ver, nil)
		if refused != nil {
			p.undoChange(old, in, saved)
			p.h.logLine(old.code, p, []byte(refused.Error()))
			ot := old.code.targets[fn]
			if ot == nil || !isEntry(ot) {
				return nil, Exit{Reason: Undef, Err: fmt.Errorf("%w (and the old version has no entry %s)", refused, fn)}
			}
			return ot, Exit{}
		}
		old.code.release(p)
		old.close(0)
		if ex != nil {
			return nil, *ex
		}
		p.h.noteUpgrade(p, old.code.ver.Vsn, c.ver.Vsn)
		return t, Exit{}
	}
}

var codeChangeSig = modules.Signature{Params: []api.ValueType{api.ValueTypeI64}}

// overBudget is the exit of a process whose last call used more fuel than
// its budget allowed, finishing before a tick could stop it.
func (p *process) overBudget() Exit {
	return Exit{Reason: Limit, Err: p.acct.exceeded()}
}

// procTable holds the live processes and the most recent exited ones.
type procTable struct {
	mu       sync.RWMutex
	next     int64
	byHandle map[int64]*process
	byID     map[PID]*process
	live     int
	gone     []*process // exited, oldest first, at most keepExited
}

const keepExited = 1024

func (t *procTable) init() {
	t.byHandle = map[int64]*process{}
	t.byID = map[PID]*process{}
}

func (t *procTable) add(p *process, limit int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.live >= limit {
		return false
	}
	t.next++
	p.handle = t.next
	t.byHandle[p.handle] = p
	t.byID[p.id] = p
	t.live++
	return true
}

// abort removes a process that never started. Its done closes: a Close
// (killAll) that saw it in the table meanwhile waits for it.
func (t *procTable) abort(p *process) {
	p.h.mem.release(p.cost())
	t.mu.Lock()
	delete(t.byHandle, p.handle)
	delete(t.byID, p.id)
	t.live--
	t.mu.Unlock()
	close(p.done)
}

func (t *procTable) exited(p *process) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.live--
	t.gone = append(t.gone, p)
	if len(t.gone) > keepExited {
		old := t.gone[0]
		t.gone = t.gone[1:]
		delete(t.byHandle, old.handle)
		delete(t.byID, old.id)
	}
}

func (t *procTable) byPID(id PID) *process {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byID[id]
}

func (t *procTable) get(handle int64) *process {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byHandle[handle]
}

func (t *procTable) all() []*process {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*process, 0, len(t.byHandle))
	for _, p := range t.byHandle {
		out = append(out, p)
	}
	return out
}

// killAll kills every live process and waits for them until ctx ends.
func (t *procTable) killAll(ctx context.Context) {
	ps := t.all()
	for _, p := range ps {
		p.Kill()
	}
	for _, p := range ps {
		select {
		case <-p.done:
		case <-ctx.Done():
			return
		}
	}
}
