package host

import (
	"context"
	"fmt"
	"sort"

	"github.com/wasmhot/wasmhot/modules"
	"github.com/wasmhot/wasmhot/purger"
)

// ProcessInfo is one row of the process table.
type ProcessInfo struct {
	PID        PID
	Handle     int64 // the pid as guests see it
	Module     string
	Vsn        uint64 // version of its own instance; 0 once exited
	VsnTag     string // that version's vsn tag; "" once exited
	Status     Status
	MailboxLen int
	// Fuel is the fuel the process has used in all (sandboxed mode: Wasm
	// instructions executed, its external calls included), counted up to
	// its last host call or fuel slice; 0 in trusted mode.
	Fuel int64
	// SysSuspended: suspended with Host.Suspend (sys:suspend/1) and not
	// resumed; it takes no message at its receives.
	SysSuspended bool
	Exit         *Exit // nil while alive
}

func (p *process) info() ProcessInfo {
	pi := ProcessInfo{PID: p.id, Handle: p.handle, Module: p.module, Status: p.status.Load().(Status), MailboxLen: p.mbox.len(), Fuel: p.acct.total.Load()}
	p.mu.Lock()
	if p.inst != nil {
		pi.Vsn = p.inst.code.ver.Vsn
		pi.VsnTag = p.inst.code.ver.VsnTag
	}
	p.mu.Unlock()
	pi.SysSuspended, _ = p.sys.held()
	select {
	case <-p.done:
		e := p.exit
		pi.Exit = &e
		pi.Status = Exited
	default:
	}
	return pi
}

// Processes lists the live processes and the most recently exited ones, in
// spawn order.
func (h *Host) Processes() []ProcessInfo {
	ps := h.procs.all()
	out := make([]ProcessInfo, len(ps))
	for i, p := range ps {
		out[i] = p.info()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Handle < out[j].Handle })
	return out
}

// PIDs lists the pids of the processes Processes lists, in no order,
// without describing them: what a lookup by pid prefix needs.
func (h *Host) PIDs() []PID {
	ps := h.procs.all()
	out := make([]PID, len(ps))
	for i, p := range ps {
		out[i] = p.id
	}
	return out
}

func (h *Host) proc(pid PID) (*process, error) {
	p := h.procs.byPID(pid)
	if p == nil {
		return nil, fmt.Errorf("pid %s: %w", pid, ErrNoProcess)
	}
	return p, nil
}

// Process describes one process.
func (h *Host) Process(pid PID) (ProcessInfo, error) {
	p, err := h.proc(pid)
	if err != nil {
		return ProcessInfo{}, err
	}
	return p.info(), nil
}

// Send copies msg into the process's mailbox. It fails with ErrNoProcess,
// ErrMailboxFull, or ErrLimit (a message over the maximum size, or the
// node's memory budget used up); nothing queued is ever dropped.
func (h *Host) Send(pid PID, msg []byte) error {
	if len(msg) > h.cfg.maxMessageSize {
		return fmt.Errorf("send to %s: %w: %d bytes, limit %d", pid, ErrLimit, len(msg), h.cfg.maxMessageSize)
	}
	p := h.procs.byPID(pid)
	switch h.send(p, clone(msg)) {
	case putOK:
		return nil
	case putFull:
		return fmt.Errorf("send to %s: %w", pid, ErrMailboxFull)
	case putBudget:
		return fmt.Errorf("send to %s: %w: the node's memory budget of %d bytes is used up", pid, ErrLimit, h.mem.limit)
	default:
		return fmt.Errorf("send to %s: %w", pid, ErrNoProcess)
	}
}

// Wait blocks until the process exits and returns how, or until ctx ends.
func (h *Host) Wait(ctx context.Context, pid PID) (Exit, error) {
	p, err := h.proc(pid)
	if err != nil {
		return Exit{}, err
	}
	select {
	case <-p.done:
		return p.exit, nil
	case <-ctx.Done():
		return Exit{}, ctx.Err()
	}
}

// Monitor returns a channel that receives the process's exit once, like
// erlang:monitor/2; for a process that already exited it is ready at once.
func (h *Host) Monitor(pid PID) (<-chan Exit, error) {
	p, err := h.proc(pid)
	if err != nil {
		return nil, err
	}
	ch := make(chan Exit, 1)
	go func() {
		<-p.done
		ch <- p.exit
	}()
	return ch, nil
}

// Kill ends the process with reason killed.
func (h *Host) Kill(pid PID) error {
	p, err := h.proc(pid)
	if err != nil {
		return err
	}
	select {
	case <-p.done:
	default:
		h.noteKill(p)
	}
	p.Kill()
	return nil
}

// CheckProcessCode reports whether the process lingers in the old code of
// module (erlang:check_process_code/2): its own instance is of that
// version, or a call into it is on its stack.
func (h *Host) CheckProcessCode(pid PID, module string) (bool, error) {
	if err := modules.CheckName(module); err != nil {
		return false, err
	}
	p, err := h.proc(pid)
	if err != nil {
		return false, err
	}
	m, _ := h.table.Get(module)
	c := h.codeOf(m.Old)
	if c == nil {
		return false, nil
	}
	return purger.CheckProcessCode(c, p), nil
}
