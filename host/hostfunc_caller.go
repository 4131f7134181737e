package host

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// Caller is the guest calling a host function: who it is (module,
// version, process) and its linear memory. It is valid only during the
// call that received it.
type Caller struct {
	h    *Host
	m    api.Module
	wctx context.Context // the ctx the guest call runs on (for alloc)
	p    *process
	// suspended: the process gave up its CPU token for a blocking host
	// function (WriteBytes takes one to run alloc).
	suspended bool
}

// instance is the calling instance (nil when unknown).
func (c Caller) instance() *instance {
	if c.h == nil {
		return nil
	}
	if in := c.h.instanceOf(c.m); in != nil {
		return in
	}
	// Its start function (or _initialize) is running: in.mod is set once
	// it returns.
	if in := pendingIn(c.wctx); in != nil && (in.mod == nil || in.mod == c.m) {
		return in
	}
	return nil
}

// Module returns the name of the calling guest module ("" when unknown).
func (c Caller) Module() string {
	if in := c.instance(); in != nil {
		return in.code.ver.Name
	}
	return ""
}

// Vsn returns the version of the calling module's code that is running
// (0 when unknown).
func (c Caller) Vsn() uint64 {
	if in := c.instance(); in != nil {
		return in.code.ver.Vsn
	}
	return 0
}

// PID returns the calling process, or false in a Go call (Host.Call...).
func (c Caller) PID() (PID, bool) {
	if c.p == nil {
		return PID{}, false
	}
	return c.p.id, true
}

// Memory returns the caller's linear memory (nil when it has none). What
// it reads is the guest's memory itself, valid until the guest runs again
// or grows its memory; [Caller.Read] copies.
func (c Caller) Memory() api.Memory {
	if c.m == nil {
		return nil
	}
	return c.m.Memory()
}

// Read returns a copy of the n bytes at ptr in the caller's memory. It
// fails when they lie outside the memory (the guest's call then ends with
// reason badarg if the host function returns the error) or n is over the
// message size limit ([Config.WithMaxMessageSize]; ErrLimit).
func (c Caller) Read(ptr, n uint32) ([]byte, error) {
	if int64(n) > int64(c.h.cfg.maxMessageSize) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrLimit, n, c.h.cfg.maxMessageSize)
	}
	mem := c.Memory()
	if mem == nil {
		return nil, fmt.Errorf("%d+%d: %w (it has no memory)", ptr, n, errBadPointer)
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		return nil, fmt.Errorf("%#x+%d: %w of %d bytes", ptr, n, errBadPointer, mem.Size())
	}
	return append(make([]byte, 0, n), b...), nil
}

// ReadString is [Caller.Read] as a string.
func (c Caller) ReadString(ptr, n uint32) (string, error) {
	b, err := c.Read(ptr, n)
	return string(b), err
}

// Write copies b to ptr in the caller's memory (into a buffer the guest
// passed); it fails when that lies outside the memory.
func (c Caller) Write(ptr uint32, b []byte) error {
	mem := c.Memory()
	if mem == nil || !mem.Write(ptr, b) {
		size := uint32(0)
		if mem != nil {
			size = mem.Size()
		}
		return fmt.Errorf("%#x+%d: %w of %d bytes", ptr, len(b), errBadPointer, size)
	}
	return nil
}

type ctxHostAllocKey struct{}

// WriteBytes copies b into memory it gets from the guest's alloc export
// (the bytes convention: alloc(len i32) -> ptr i32) and returns
// ptr<<32|len, the value a host function returns to hand bytes to the
// guest. An empty b returns 0 without calling alloc. It fails with
// ErrBadResult when the guest has no alloc, alloc returns memory it does
// not have, or alloc itself called a host function that returns bytes
// (alloc does not run inside itself); with ErrLimit when b is over the
// message size limit; and with the trap when alloc traps.
func (c Caller) WriteBytes(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) > c.h.cfg.maxMessageSize {
		return 0, fmt.Errorf("%w: a result of %d bytes, limit %d", ErrLimit, len(b), c.h.cfg.maxMessageSize)
	}
	in := c.instance()
	if in == nil {
		return 0, fmt.Errorf("%w: the calling instance is unknown", ErrBadResult)
	}
	cd := in.code
	if cd.alloc < 0 || c.Memory() == nil {
		return 0, fmt.Errorf("%w: module %s exports no alloc (i32)->i32 or no memory", ErrBadResult, cd.ver.Name)
	}
	if a, _ := c.wctx.Value(ctxHostAllocKey{}).(*instance); a == in {
		return 0, fmt.Errorf("%w: module %s: alloc called a host function that returns bytes", ErrBadResult, cd.ver.Name)
	}
	if c.suspended { // a blocking function: alloc runs Wasm, with a CPU
		if !c.p.resume() {
			return 0, context.Canceled
		}
		defer c.p.suspend()
	}
	if c.p != nil { // Wasm runs: not host code meanwhile
		c.p.leaveHost()
		defer c.p.enterHost()
	}
	// A call engine of its own: the guest may be running its alloc export
	// (a Go call of alloc, a bytes call), and a wazero function must not
	// run inside itself.
	if in.hostAlloc == nil {
		in.hostAlloc = c.m.ExportedFunction(cd.ver.Exports[cd.alloc].Name)
	}
	stack := []uint64{uint64(len(b))}
	if err := in.hostAlloc.CallWithStack(context.WithValue(c.wctx, ctxHostAllocKey{}, in), stack); err != nil {
		return 0, fmt.Errorf("%s: alloc(%d): %w", cd.ver.Name, len(b), err)
	}
	ptr := uint32(stack[0])
	if !c.Memory().Write(ptr, b) {
		return 0, fmt.Errorf("%w: %s: alloc(%d) returned %#x, outside memory of %d bytes", ErrBadResult, cd.ver.Name, len(b), ptr, c.Memory().Size())
	}
	return uint64(ptr)<<32 | uint64(len(b)), nil
}
