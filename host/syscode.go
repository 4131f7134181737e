package host

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmhot/wasmhot/modules"
)

// Host-driven code change, as Erlang's sys:suspend/1, sys:change_code/4
// and sys:resume/1 do it for a gen_server (docs/design.md, "Code change
// from outside").

var (
	// ErrNotSuspended: ChangeCode of a process that is not suspended
	// (Erlang answers {error, {unknown_system_msg, ...}}).
	ErrNotSuspended = errors.New("host: process not suspended")
	// ErrRefused: the new version's code_change refused the change, or
	// failed (trapped, ran out of fuel); the process stays in its old
	// version with its old state. The error says why.
	ErrRefused = errors.New("host: code_change refused")
	// ErrNoCodeChange: ChangeCode of a process whose running version does
	// not export code_change of ABI v2, the guest's promise that its
	// state is all in its state bytes whenever it receives.
	ErrNoCodeChange = errors.New("host: no code_change of ABI v2")
)

// codeChange2Sig is code_change of ABI v2: (from_vsn_ptr, from_vsn_len,
// extra_ptr, extra_len i32) -> i64, 0 to accept, else ptr<<32|len of the
// reason of a refusal in the guest's memory.
var codeChange2Sig = modules.Signature{Params: []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, Results: []api.ValueType{api.ValueTypeI64}}

// CodeChange2Signature is the signature of code_change in ABI v2:
// (from_vsn_ptr, from_vsn_len, extra_ptr, extra_len i32) -> (i64).
func CodeChange2Signature() modules.Signature { return codeChange2Sig.Clone() }

// maxRefusal is the longest refusal reason kept, in bytes.
const maxRefusal = 1024

// sysState is a process's suspension and its pending code change.
type sysState struct {
	mu        sync.Mutex
	suspended bool
	resumed   chan struct{} // closed by Resume; a new one at each Suspend
	req       chan *changeReq
	// wake gets a token when a ChangeCode waits: a receive blocked on an
	// empty mailbox goes back to hold to take it.
	wake chan struct{}
}

// changeReq is one ChangeCode, handed to the process in its receive.
type changeReq struct {
	extra []byte
	reply chan error // buffered: the process never blocks on it
}

// restart is a code change the process made in its receive: it unwound
// the old instance's call and goes on with t in the new version.
type restart struct {
	t   *target
	old *instance
}

// held reports whether p is suspended, and the channel Resume closes.
func (s *sysState) held() (bool, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.suspended, s.resumed
}

// Suspend suspends the process (sys:suspend/1): at its next receive it
// stops, taking no message, until Resume; messages sent meanwhile are
// kept in its mailbox, in order. What it does before that receive goes
// on. Suspending a suspended process does nothing. It fails with
// ErrNoProcess for a process that exited.
func (h *Host) Suspend(pid PID) error {
	p, err := h.liveProc(pid)
	if err != nil {
		return err
	}
	p.sys.mu.Lock()
	if !p.sys.suspended {
		p.sys.suspended = true
		p.sys.resumed = make(chan struct{})
	}
	p.sys.mu.Unlock()
	return nil
}

// Resume lets a suspended process receive again (sys:resume/1); a
// process that is not suspended is left alone. It fails with ErrNoProcess
// for a process that exited.
func (h *Host) Resume(pid PID) error {
	p, err := h.liveProc(pid)
	if err != nil {
		return err
	}
	p.sys.mu.Lock()
	if p.sys.suspended {
		p.sys.suspended = false
		close(p.sys.resumed)
	}
	p.sys.mu.Unlock()
	return nil
}

// ChangeCode moves a suspended process to its module's current version
// (sys:change_code/4). It waits until the process is in a receive of its
// own instance (or ctx ends), then: a new instance of the current version
// gets the process's state; its code_change (ABI v2) runs with the old
// version's vsn tag and extra; when it accepts, the old instance's call
// is unwound and the process goes on, still suspended, in the function it
// last entered (its spawn function or its last continue target) of the
// new version, its mailbox untouched. When code_change refuses or fails,
// the new instance is dropped and the process stays in its old version
// with its old state; the error wraps ErrRefused and says why. A process
// already in the current version is left as it is (nil).
//
// Errors: ErrNoProcess, ErrNotSuspended, ErrNoCodeChange (its running
// version does not export code_change of ABI v2), ErrUndef or ErrBadArity
// (the current version has no such entry), ErrLimit (extra over the
// maximum message size), ErrRefused, ctx's error.
func (h *Host) ChangeCode(ctx context.Context, pid PID, extra []byte) error {
	if len(extra) > h.cfg.maxMessageSize {
		return fmt.Errorf("change code of %s: %w: extra of %d bytes, limit %d", pid, ErrLimit, len(extra), h.cfg.maxMessageSize)
	}
	p, err := h.liveProc(pid)
	if err != nil {
		return err
	}
	susp, resumed := p.sys.held()
	if !susp {
		return fmt.Errorf("change code of %s: %w (suspend it first)", pid, ErrNotSuspended)
	}
	r := &changeReq{extra: slices.Clone(extra), reply: make(chan error, 1)}
	select {
	case p.sys.wake <- struct{}{}:
	default:
	}
	select {
	case p.sys.req <- r:
	case <-resumed:
		return fmt.Errorf("change code of %s: %w (resumed)", pid, ErrNotSuspended)
	case <-p.done:
		return fmt.Errorf("change code of %s: %w: it exited (%s)", pid, ErrNoProcess, p.exit)
	case <-ctx.Done():
		return fmt.Errorf("change code of %s: waiting for it to reach a receive: %w", pid, ctx.Err())
	}
	select {
	case err := <-r.reply:
		if err != nil {
			return fmt.Errorf("change code of %s: %w", pid, err)
		}
		return nil
	case <-p.done:
		return fmt.Errorf("change code of %s: %w: it exited (%s)", pid, ErrNoProcess, p.exit)
	}
}

// liveProc is proc for a process that has not exited.
func (h *Host) liveProc(pid PID) (*process, error) {
	p, err := h.proc(pid)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.done:
		return nil, fmt.Errorf("pid %s: %w: it exited (%s)", pid, ErrNoProcess, p.exit)
	default:
		return p, nil
	}
}

// hold is where a receive of a suspended process waits: until Resume, a
// kill, or a code change. own says whether the receive is the process's
// own instance's (a receive inside an external call cannot change code).
// A code change that succeeds does not return: it unwinds the guest.
func (p *process) hold(own bool) {
	for {
		susp, resumed := p.sys.held()
		if !susp {
			return
		}
		req := p.sys.req
		if !own {
			req = nil
		}
		p.suspend()
		var r *changeReq
		select {
		case <-resumed:
		case <-p.killCh:
		case r = <-req:
		}
		if !p.resume() || p.killed() {
			exit(p, Killed, nil)
		}
		if r != nil {
			done, err := p.changeInReceive(r.extra)
			r.reply <- err
			if done { // unwind the old instance's call (see loop)
				panic(sys.NewExitError(exitKilled))
			}
		}
	}
}

// changeInReceive is a ChangeCode in the process's receive. When the
// process moved to a new instance, done is true and the caller unwinds the
// old instance's call (the loop then goes on in the new version);
// otherwise err says why, and nothing changed.
func (p *process) changeInReceive(extra []byte) (done bool, err error) {
	p.mu.Lock()
	old := p.inst
	entry := p.entry
	p.mu.Unlock()
	if ct := old.code.targets["code_change"]; ct == nil || !ct.sig.Equal(codeChange2Sig) {
		return false, fmt.Errorf("%w: %s vsn %d does not export code_change%s", ErrNoCodeChange, p.module, old.code.ver.Vsn, codeChange2Sig)
	}
	t, err := p.h.currentEntry(p.module, entry)
	if err != nil {
		return false, err
	}
	c := t.code
	if c == old.code {
		c.gate.Leave()
		return false, nil
	}
	in, err := c.instantiate(p.ctx, &p.fam)
	if err != nil {
		c.gate.Leave()
		return false, fmt.Errorf("%w: instantiate %s vsn %d: %w", ErrRefused, p.module, c.ver.Vsn, err)
	}
	c.hold(p)
	c.gate.Leave()
	p.mu.Lock()
	p.inst = in
	saved := slices.Clone(p.state)
	p.mu.Unlock()
	ex, refused := p.codeChange(in, old.code.ver, extra)
	if ex == nil && refused == nil {
		p.mu.Lock()
		p.restart = &restart{t: t, old: old}
		p.mu.Unlock()
		return true, nil
	}
	p.undoChange(old, in, saved)
	if ex != nil && ex.Reason == Killed {
		exit(p, Killed, nil)
	}
	if refused == nil {
		refused = fmt.Errorf("%w: %s", ErrRefused, ex)
	}
	return false, refused
}

// undoChange puts p back in its old instance with its old state after a
// code change that did not happen, and drops the new instance.
func (p *process) undoChange(old, in *instance, saved []byte) {
	p.mu.Lock()
	p.inst = old
	grow := int64(len(saved) - len(p.state))
	p.state = saved
	p.fail = nil
	p.mu.Unlock()
	if grow > 0 {
		p.h.mem.force(grow)
	} else {
		p.h.mem.release(-grow)
	}
	in.code.release(p)
	in.close(0)
}

// currentEntry looks up module:fn, an entry point, in the current
// version and enters its gate.
func (h *Host) currentEntry(module, fn string) (*target, error) {
	t, entered := h.enterName(context.Background(), module, fn, isEntry)
	switch {
	case t == nil:
		return nil, fmt.Errorf("%w: the current version of %s exports no %s, the function the process runs", ErrUndef, module, fn)
	case !entered:
		return nil, badArity(module, fn, "entry points are ()->(), not %s", t.sig)
	}
	return t, nil
}

// codeChange runs the new version's optional code_change in in, the
// process's new instance. ABI v1's code_change(from_vsn i64) gets the old
// load counter, and any failure ends the process (ex). ABI v2's gets the
// old version's vsn tag and extra; a refusal or a failure is refused, and
// the caller keeps the process in its old version (ex is set only when
// the process was killed). Any other code_change ends the process with
// badarity.
func (p *process) codeChange(in *instance, from *modules.Version, extra []byte) (ex *Exit, refused error) {
	ct := in.code.targets["code_change"]
	switch {
	case ct == nil:
		return nil, nil
	case ct.sig.Equal(codeChangeSig):
		over, err := in.callMetered(p.ctx, p, p.acct, in.fn(ct.idx), []uint64{from.Vsn})
		if err != nil {
			e := p.failure(in, ct, err)
			return &e, nil
		}
		if over {
			e := p.overBudget()
			return &e, nil
		}
		return nil, nil
	case ct.sig.Equal(codeChange2Sig):
		res, over, err := p.codeChange2(in, ct, []byte(from.VsnTag), extra)
		switch {
		case p.killed():
			return &Exit{Reason: Killed}, nil
		case err != nil:
			p.mu.Lock()
			f := p.fail
			p.mu.Unlock()
			if f != nil {
				return nil, fmt.Errorf("%w: code_change failed: %s", ErrRefused, f)
			}
			return nil, fmt.Errorf("%w: code_change trapped: %w", ErrRefused, err)
		case over:
			return nil, fmt.Errorf("%w: code_change: %w", ErrRefused, p.acct.exceeded())
		case res != 0:
			return nil, fmt.Errorf("%w: %s", ErrRefused, refusal(in, res))
		}
		return nil, nil
	default:
		return &Exit{Reason: BadArity, Err: badArity(p.module, "code_change", "want %s (ABI v1) or %s (ABI v2), have %s", codeChangeSig, codeChange2Sig, ct.sig)}, nil
	}
}

// codeChange2 calls code_change of ABI v2 with from and extra copied into
// the instance through its alloc, one after the other in one buffer.
func (p *process) codeChange2(in *instance, ct *target, from, extra []byte) (res uint64, over bool, err error) {
	c := in.code
	if c.alloc < 0 || in.mem == nil {
		return 0, false, errors.New("the module exports code_change of ABI v2 but no alloc(i32)->i32 or no memory")
	}
	p.leaveHost()
	in.fuelIn(p.acct)
	// One alloc for both, from then extra: an allocator may reuse its
	// memory at each call (the C header's arena does).
	stack := make([]uint64, 4)
	if n := len(from) + len(extra); n > 0 {
		s := []uint64{uint64(n)}
		if err = in.fn(c.alloc).CallWithStack(p.ctx, s); err == nil {
			ptr := uint32(s[0])
			if !in.mem.Write(ptr, append(slices.Clip(from), extra...)) {
				err = fmt.Errorf("alloc(%d) returned %#x, outside memory", n, ptr)
			}
			stack = []uint64{uint64(ptr), uint64(len(from)), uint64(ptr) + uint64(len(from)), uint64(len(extra))}
		}
	}
	if err == nil {
		err = in.fn(ct.idx).CallWithStack(p.ctx, stack)
	}
	p.enterHost()
	return stack[0], in.fuelOut(p.acct), err
}

// refusal reads the reason code_change returned (ptr<<32|len).
func refusal(in *instance, res uint64) string {
	ptr, n := uint32(res>>32), uint32(res)
	if n == 0 {
		return "refused"
	}
	n = min(n, maxRefusal)
	b, ok := in.mem.Read(ptr, n)
	if !ok {
		return fmt.Sprintf("refused (reason %#x+%d outside memory)", ptr, n)
	}
	if !utf8.Valid(b) {
		return fmt.Sprintf("refused (reason of %d bytes, not UTF-8)", n)
	}
	return string(b)
}

// takeRestart returns and clears the code change that unwound p's call.
func (p *process) takeRestart() *restart {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.restart
	p.restart = nil
	return r
}
