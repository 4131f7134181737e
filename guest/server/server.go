// Package server is a gen_server for Go guests: the receive loop, the
// state, call and reply between processes, and the code change of a
// process that a host moves to a new version from outside (Host.Suspend,
// Host.ChangeCode, Host.Resume; `wasmhot suspend|change-code|resume`).
//
// A server is a few callbacks, registered at init, and an entry point
// that runs them:
//
//	var counter = &server.Server{
//		Init: func(arg []byte) ([]byte, error) { return le(0), nil },
//		HandleCall: func(req []byte, from server.From, st []byte) ([]byte, []byte, error) {
//			n := get(st) + 1
//			return le(n), le(n), nil // reply, new state
//		},
//		CodeChange: func(oldVsn string, st, extra []byte) ([]byte, error) {
//			return st, nil // or an error: the change is refused
//		},
//	}
//
//	func init() { server.Register(counter) }
//
//	//go:wasmexport server
//	func run() { server.Run() }
//
// Spawn it with host.Spawn(ctx, "mod", "server", arg): Init gets arg. A
// client process calls it with [Call] (a reference and a timeout) or
// [Cast]; anything else sent to it is an info message (HandleInfo).
//
// # State and code change
//
// The state is bytes, saved with guest.SetState after every message, so
// each receive of the loop is a point where the host may move the process
// to a new version: the package exports code_change of ABI v2, which hands
// the new version's CodeChange the old version's vsn tag, the state and
// the extra bytes of ChangeCode. An error from CodeChange refuses the
// change: the process stays in its old version with its old state, and
// ChangeCode reports the error's text. A server is not moved while one of
// its handlers waits in a Call of its own: only at the loop's receive.
//
// The loop stays in its version (a local loop): loading a new version
// changes nothing until ChangeCode, as with OTP's release handling.
package server

import (
	"encoding/binary"
	"errors"
	"time"
	"unsafe"

	"github.com/wasmhot/wasmhot/guest"
)

// From is the caller of a call: its process and the call's reference,
// which Reply needs.
type From struct {
	PID int64
	Ref uint64
}

// Server is a gen_server's callbacks. HandleCall is required; the others
// are optional.
type Server struct {
	// Init makes the first state from the spawn argument (nil: the
	// argument is the state). An error ends the process with it.
	Init func(arg []byte) (state []byte, err error)
	// HandleCall answers a call: the reply (nil with NoReply: no reply
	// now; answer later with Reply) and the new state. ErrStop, or a
	// StopError, ends the server after the reply.
	HandleCall func(req []byte, from From, state []byte) (reply, newState []byte, err error)
	// HandleCast handles a cast (no reply).
	HandleCast func(msg []byte, state []byte) (newState []byte, err error)
	// HandleInfo handles any other message.
	HandleInfo func(msg []byte, state []byte) (newState []byte, err error)
	// CodeChange runs in the new version when the host changes the
	// process's code: oldVsn is the old version's vsn tag (its
	// wasmhot.vsn section), extra the bytes of ChangeCode. An error
	// refuses the change. Nil: the state carries over as it is.
	CodeChange func(oldVsn string, state, extra []byte) (newState []byte, err error)
	// Terminate runs when the server stops (a handler's error).
	Terminate func(reason string, state []byte)
}

// NoReply is the reply of a HandleCall that answers later with Reply.
var NoReply = make([]byte, 0, 1)

// ErrStop stops a server normally.
var ErrStop = errors.New("stop")

// ErrNoServer: Run without Register.
var ErrNoServer = errors.New("server: Run without Register")

var registered *Server

// Register makes s the module's server, for Run and code_change. Call it
// from an init function: code_change runs before any entry point.
func Register(s *Server) { registered = s }

// The messages of the protocol: a 4-byte magic, a kind, then the fields.
const (
	magic     = "\xffWH1"
	kindCall  = 'c' // from pid (8), ref (8), request
	kindCast  = 's' // message
	kindReply = 'r' // ref (8), reply
	stateTag  = "WHS1"
)

// Run runs the registered server's loop until a handler stops it. Its
// first run (no saved state) calls Init with the spawn argument; after a
// code change it goes on with the saved state.
func Run() {
	s := registered
	if s == nil {
		panic(ErrNoServer)
	}
	raw := guest.State()
	var st []byte
	if len(raw) >= len(stateTag) && string(raw[:len(stateTag)]) == stateTag {
		st = raw[len(stateTag):]
	} else {
		st = raw
		if s.Init != nil {
			var err error
			if st, err = s.Init(raw); err != nil {
				panic("server: init: " + err.Error())
			}
		}
		save(st)
	}
	for {
		msg, err := Receive(guest.Forever)
		if err != nil {
			continue
		}
		var ns []byte
		switch kind, body := parse(msg); kind {
		case kindCall:
			if len(body) < 16 {
				continue
			}
			from := From{PID: int64(binary.LittleEndian.Uint64(body)), Ref: binary.LittleEndian.Uint64(body[8:])}
			var reply []byte
			reply, ns, err = s.HandleCall(body[16:], from, st)
			if !isNoReply(reply) {
				Reply(from, reply)
			}
		case kindCast:
			ns, err = handle(s.HandleCast, body, st)
		case kindReply:
			continue // a reply that came too late for its call
		default:
			ns, err = handle(s.HandleInfo, msg, st)
		}
		st = ns
		if err != nil {
			if s.Terminate != nil {
				s.Terminate(err.Error(), st)
			}
			save(st)
			return
		}
		save(st)
	}
}

func isNoReply(b []byte) bool { return len(b) == 0 && unsafe.SliceData(b) == unsafe.SliceData(NoReply) }

func handle(f func([]byte, []byte) ([]byte, error), msg, st []byte) ([]byte, error) {
	if f == nil {
		return st, nil
	}
	return f(msg, st)
}

func save(st []byte) {
	b := make([]byte, 0, len(stateTag)+len(st))
	guest.SetState(append(append(b, stateTag...), st...))
}

// parse splits a protocol message into its kind and body; kind 0 for any
// other message.
func parse(msg []byte) (byte, []byte) {
	if len(msg) > len(magic) && string(msg[:len(magic)]) == magic {
		return msg[len(magic)], msg[len(magic)+1:]
	}
	return 0, msg
}

func frame(kind byte, n int) []byte {
	b := make([]byte, 0, len(magic)+1+n)
	return append(append(b, magic...), kind)
}

// pending holds messages a Call received while it waited for its reply;
// Receive returns them first, in order.
var pending [][]byte

// Receive is guest.Receive for a process that makes calls: the messages
// that arrived while a Call waited come first.
func Receive(timeout time.Duration) ([]byte, error) {
	if len(pending) > 0 {
		m := pending[0]
		pending = pending[1:]
		return m, nil
	}
	return guest.Receive(timeout)
}

var nextRef uint64

// ErrTimeout: no reply within the timeout (the late reply is dropped).
var ErrTimeout = guest.ErrTimeout

// Call sends req to the server pid and waits at most timeout for its reply
// (gen_server:call/3). Other messages that arrive meanwhile are kept for
// Receive. It fails with ErrTimeout, or guest.ErrNoProcess when pid is not
// alive.
func Call(pid int64, req []byte, timeout time.Duration) ([]byte, error) {
	nextRef++
	ref := nextRef
	m := frame(kindCall, 16+len(req))
	m = binary.LittleEndian.AppendUint64(m, uint64(guest.Self()))
	m = binary.LittleEndian.AppendUint64(m, ref)
	if err := guest.Send(pid, append(m, req...)); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if timeout < 0 {
			left = guest.Forever
		} else if left <= 0 {
			return nil, ErrTimeout
		}
		msg, err := guest.Receive(left)
		if err != nil {
			return nil, err
		}
		kind, body := parse(msg)
		switch {
		case kind == kindReply && len(body) >= 8 && binary.LittleEndian.Uint64(body) == ref:
			return body[8:], nil
		case kind == kindReply:
			// a late reply to an earlier call: dropped
		default:
			pending = append(pending, msg)
		}
	}
}

// Cast sends msg to the server pid without waiting (gen_server:cast/2).
func Cast(pid int64, msg []byte) error {
	return guest.Send(pid, append(frame(kindCast, len(msg)), msg...))
}

// Reply answers the call from (gen_server:reply/2), for a HandleCall that
// returned NoReply. A caller that is gone is ignored.
func Reply(from From, reply []byte) {
	m := frame(kindReply, 8+len(reply))
	m = binary.LittleEndian.AppendUint64(m, from.Ref)
	_ = guest.Send(from.PID, append(m, reply...))
}
