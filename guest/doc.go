// Package guest is the Go SDK for wasmhot guests: Go programs compiled to
// WebAssembly that a wasmhot host loads, calls, runs as processes and
// replaces while they run.
//
// A guest is a reactor: a main package with an empty main, built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o x.wasm .
//
// whose entry points are exported with //go:wasmexport. The host must grant
// the module WASI (host.NewConfig().WithWASI("name")): the Go runtime needs
// clocks and random, and the guest's stdout and stderr go to the host's log.
//
// # Processes and the upgrade point
//
// A process runs an export of type func() (spawned with host.Spawn or
// [Spawn]). When the export returns after [Continue]("fn"), the host calls
// ?MODULE:fn — the fn of the module's current version. That is the upgrade
// point: with the same version the process goes on in the same instance
// (its Go variables kept), with a new version it goes on in a new instance
// of the new code, with only its [State] bytes and its mailbox carried
// over, after the new version's optional code_change export has run.
// Everything a process does between two continues (Go calls, loops,
// goroutines) is local and stays in the version it started in.
//
//	//go:wasmexport run
//	func run() {
//		msg, _ := guest.Receive(guest.Forever)
//		guest.Log("v1 got " + string(msg))
//		guest.Continue("run") // ?MODULE:run(): the next message may run new code
//	}
//
//	//go:wasmexport code_change
//	func codeChange(fromVsn int64) {
//		guest.SetState(upgrade(guest.State(), fromVsn))
//	}
//
// # Servers and checked calls
//
// Package [github.com/wasmhot/wasmhot/guest/server] is a gen_server: a
// few callbacks (Init, HandleCall with a reply, HandleCast, HandleInfo,
// CodeChange, Terminate), Call with a reference and a timeout, Cast and
// Reply. It exports code_change of ABI v2, so the host can move a running
// server to a new version from outside (Host.Suspend, Host.ChangeCode,
// Host.Resume) and its CodeChange can refuse. [CallChecked] is an external
// call that returns undef, bad arity or a trap as a value instead of
// ending the process. Name a module's versions with `wasmhot vsn FILE TAG`
// after the build (Go's linker writes no custom sections).
//
// # Bytes functions
//
// A bytes function takes bytes and returns bytes (host.CallBytes from Go,
// [CallBytes] from a guest). The host asks the guest's alloc export (this
// package exports it) for a buffer, copies the input there, calls the
// function with its address and length, and copies out the result the
// function names as ptr<<32|len:
//
//	//go:wasmexport upper
//	func upper(ptr, n uint32) uint64 {
//		return guest.HandleBytes(ptr, n, func(in []byte) []byte {
//			return bytes.ToUpper(in)
//		})
//	}
//
// The package exports alloc for every guest that imports it; a guest must
// not export its own.
//
// # Errors
//
// The functions return the sentinel errors below, to match with errors.Is.
// A bad pointer, an invalid name or an oversized state that the host cannot
// accept in Receive, State, SetState, Continue or Log ends the process (exit
// reason badarg or limit) rather than returning an error: that is the ABI.
//
// Outside GOOS=wasip1 the package compiles (so that guest code can be vetted
// and its pure parts tested natively) but the functions that reach the host
// panic with [ErrNotGuest].
package guest

import (
	"errors"
	"time"
)

// Errors returned by the functions of this package.
var (
	// ErrUndef: no such module:function (Spawn, CallBytes), or the
	// function is not an entry point () -> () (Spawn).
	ErrUndef = errors.New("guest: undef")
	// ErrBadArity: CallBytes target is not a bytes function
	// (ptr, len i32) -> i64, or its module exports no alloc or memory.
	ErrBadArity = errors.New("guest: badarity")
	// ErrLimit: the host's process limit (Spawn).
	ErrLimit = errors.New("guest: limit")
	// ErrBadArgument: the host refused a pointer, a length or a name (not
	// UTF-8, empty, longer than 255 bytes, or an invalid module name).
	ErrBadArgument = errors.New("guest: bad argument")
	// ErrNoProcess: no live process has that pid (Send).
	ErrNoProcess = errors.New("guest: no such process")
	// ErrMailboxFull: the receiver's mailbox is at its limit, or the
	// message is larger than the host's message size limit (Send). Nothing
	// queued is dropped.
	ErrMailboxFull = errors.New("guest: mailbox full or message too large")
	// ErrTimeout: no message arrived in time (Receive, ReceiveInto).
	ErrTimeout = errors.New("guest: timeout")
	// ErrShortBuffer: the message or result does not fit in the caller's
	// buffer (ReceiveInto, CallBytesInto); the returned length is the size
	// needed.
	ErrShortBuffer = errors.New("guest: buffer too small")
	// ErrNotGuest: the function was called in a program not built for
	// GOOS=wasip1 (it panics with this error).
	ErrNotGuest = errors.New("guest: not a wasmhot guest (build with GOOS=wasip1 GOARCH=wasm)")
)

// Forever is the timeout of a Receive that waits until a message comes.
const Forever time.Duration = -1
