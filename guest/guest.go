package guest

import (
	"math"
	"strings"
	"time"
	"unsafe"
)

// ABI return codes (docs/design.md, "Guest ABI v1, as built").
const (
	codeUndef  = -1 // spawn, call_bytes; -1 is also send's "no process" and receive's timeout
	codeLimit  = -2 // spawn: process limit; send: mailbox full; call_bytes: not a bytes function
	codeBadArg = -3
)

func strPtr(s string) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

func bytesPtr(b []byte) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b))
}

// timeoutMS turns a timeout into the ABI's milliseconds: negative waits
// forever (-1), 0 polls, anything else is rounded up to a whole millisecond
// (so a positive timeout never polls) and capped at about 24.8 days.
func timeoutMS(d time.Duration) int32 {
	switch {
	case d < 0:
		return -1
	case d == 0:
		return 0
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(ms)
}

// Self returns the calling process's pid, an int64 > 0 unique in its host;
// 0 when the guest runs a Go call from the host rather than a process.
func Self() int64 { return abiSelf() }

// Spawn starts a process running module:function (an export of type
// func()) of the module's current version, with state as its initial State.
// It returns the new pid, or ErrUndef (no such module:function, or not an
// entry point), ErrLimit (the host's process limit) or ErrBadArgument (an
// invalid module or function name).
func Spawn(module, function string, state []byte) (int64, error) {
	mp, ml := strPtr(module)
	fp, fl := strPtr(function)
	sp, sl := bytesPtr(state)
	pid := abiSpawn(mp, ml, fp, fl, sp, sl)
	switch {
	case pid > 0:
		return pid, nil
	case pid == codeUndef:
		return 0, ErrUndef
	case pid == codeLimit:
		return 0, ErrLimit
	default:
		return 0, ErrBadArgument
	}
}

// Send copies msg into the mailbox of process pid. It fails with
// ErrNoProcess, ErrMailboxFull (the mailbox is full, or msg is over the
// host's message size limit) or ErrBadArgument; a failed send queues
// nothing and drops nothing.
func Send(pid int64, msg []byte) error {
	p, n := bytesPtr(msg)
	switch abiSend(pid, p, n) {
	case 0:
		return nil
	case codeUndef:
		return ErrNoProcess
	case codeLimit:
		return ErrMailboxFull
	default:
		return ErrBadArgument
	}
}

const (
	defaultRecvBuf = 4 << 10
	keepRecvBuf    = 1 << 20
)

// recvBuf is Receive's buffer; it grows to the largest message received
// (and falls back to its default size after a message over 1 MiB).
var recvBuf []byte

// Receive removes the first message from the process's mailbox and returns
// it, waiting at most timeout for one to arrive: Forever (any negative
// duration) waits until one does, 0 only looks. It returns ErrTimeout when
// none came.
//
// A message of any size is received whole: when it is larger than the
// buffer, the host leaves it first in the mailbox and Receive grows the
// buffer and takes it again. Receive blocks in the host, so a purge or kill
// ends a waiting process at once. Outside a process (in a Go call) it
// returns ErrTimeout.
func Receive(timeout time.Duration) ([]byte, error) {
	ms := timeoutMS(timeout)
	if recvBuf == nil {
		recvBuf = make([]byte, defaultRecvBuf)
	}
	for {
		p, c := bytesPtr(recvBuf)
		n := abiReceive(p, c, ms)
		if n < 0 {
			return nil, ErrTimeout
		}
		if int(n) <= len(recvBuf) {
			msg := make([]byte, n)
			copy(msg, recvBuf[:n])
			if len(recvBuf) > keepRecvBuf {
				recvBuf = nil
			}
			return msg, nil
		}
		// Too large: the message stays first; take it with a buffer that fits.
		recvBuf = make([]byte, n)
	}
}

// ReceiveInto is Receive into the caller's buffer, without allocating. It
// returns the message's length n. When n > len(buf) the error is
// ErrShortBuffer and the message stays first in the mailbox, to be taken by
// a call with a buffer of at least n bytes.
func ReceiveInto(buf []byte, timeout time.Duration) (int, error) {
	p, c := bytesPtr(buf)
	n := abiReceive(p, c, timeoutMS(timeout))
	switch {
	case n < 0:
		return 0, ErrTimeout
	case int(n) > len(buf):
		return int(n), ErrShortBuffer
	}
	return int(n), nil
}

// Sleep suspends the process for d (rounded up to a millisecond). Use it
// rather than time.Sleep: a purge or kill wakes a process that sleeps in the
// host, not one that sleeps in the Go runtime.
func Sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	abiSleep(timeoutMS(d))
}

// State returns a copy of the process's state: the bytes that carry over
// from one version to the next at an upgrade (see Continue), set by Spawn,
// SetState and code_change. It is empty outside a process.
func State() []byte {
	buf := make([]byte, 256)
	for {
		p, c := bytesPtr(buf)
		n := abiState(p, c)
		if n < 0 {
			return nil
		}
		if int(n) <= len(buf) {
			return buf[:n:n]
		}
		buf = make([]byte, n)
	}
}

// SetState replaces the process's state with a copy of st. A state over the
// host's message size limit ends the process (exit reason limit). Outside a
// process it does nothing.
func SetState(st []byte) {
	p, n := bytesPtr(st)
	abiSetState(p, n)
}

// Continue names the function the process goes on with when the running
// export returns: ?MODULE:function, resolved in the module's current
// version. This is the upgrade point, Erlang's ?MODULE:loop(State): if a
// new version was loaded, the process moves to a new instance of it (only
// State and the mailbox carry over; the new version's code_change runs
// first), otherwise it goes on in the same instance with its Go variables.
// The function must be an export of type func(); a missing one ends the
// process with reason undef. Without Continue, returning ends the process
// normally. The last Continue before the return wins; in a Go call it is
// ignored.
func Continue(function string) {
	p, n := strPtr(function)
	abiContinue(p, n)
}

// Log writes s to the host's log, one log line per line of s (a trailing
// newline is dropped), each prefixed by the host with "module vN pid: ".
func Log(s string) {
	s = strings.TrimSuffix(s, "\n")
	for {
		line, rest, more := strings.Cut(s, "\n")
		p, n := strPtr(line)
		abiLog(p, n)
		if !more {
			return
		}
		s = rest
	}
}

const defaultCallBuf = 16 << 10

// callBuf is CallBytes's result buffer; it grows to the largest result.
var callBuf []byte

// CallBytes calls module:function, a bytes function of another guest
// module (or of this one: the call goes to the module's current version),
// with a copy of in, and returns a copy of its result. It fails with
// ErrUndef (no such function), ErrBadArity (not a bytes function) or
// ErrBadArgument; a trap in the callee ends the calling process.
//
// The host copies the result only when it fits the caller's buffer. When a
// result is larger than CallBytes's buffer (16 KiB at first, then the
// largest result seen), CallBytes grows the buffer and calls the function a
// second time: use it for functions without side effects, or use
// CallBytesInto with a buffer large enough.
func CallBytes(module, function string, in []byte) ([]byte, error) {
	if callBuf == nil {
		callBuf = make([]byte, defaultCallBuf)
	}
	for {
		n, err := CallBytesInto(module, function, in, callBuf)
		if err == ErrShortBuffer {
			callBuf = make([]byte, n)
			continue
		}
		if err != nil {
			return nil, err
		}
		out := make([]byte, n)
		copy(out, callBuf[:n])
		return out, nil
	}
}

// CallBytesInto is CallBytes with the caller's result buffer: it returns
// the result's length n. When n > len(out) the result was not copied and
// the error is ErrShortBuffer; the function ran once either way.
func CallBytesInto(module, function string, in, out []byte) (int, error) {
	mp, ml := strPtr(module)
	fp, fl := strPtr(function)
	ip, il := bytesPtr(in)
	op, oc := bytesPtr(out)
	n := abiCallBytes(mp, ml, fp, fl, ip, il, op, oc)
	switch {
	case n == codeUndef:
		return 0, ErrUndef
	case n == codeLimit:
		return 0, ErrBadArity
	case n < 0:
		return 0, ErrBadArgument
	case int(n) > len(out):
		return int(n), ErrShortBuffer
	}
	return int(n), nil
}
