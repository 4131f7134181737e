package host

import (
	"errors"
	"strconv"
	"strings"

	"github.com/wasmhot/wasmhot/exports"
	"github.com/wasmhot/wasmhot/modules"
	"github.com/wasmhot/wasmhot/purger"
)

// The errors of the host API. Most are the sentinels of the package that
// owns the concept, repeated here so that users of host need import nothing
// else; match them with errors.Is.
var (
	// ErrUndef: the module has no current version, or it does not export
	// the function (Erlang's undef).
	ErrUndef = exports.ErrUndef
	// ErrBadArity: the function exists with another signature.
	ErrBadArity = exports.ErrBadArity
	// ErrNotPurged: a load of a module whose old code is still there.
	ErrNotPurged = modules.ErrNotPurged
	// ErrSticky: a reload or delete of a sticky module.
	ErrSticky = modules.ErrSticky
	// ErrBadModule: the bytes are not a loadable module (invalid Wasm, a
	// refused import, a start function that traps...).
	ErrBadModule = modules.ErrBadModule
	// ErrBadName: not a module name.
	ErrBadName = modules.ErrBadName
	// ErrNotLoaded: the module has neither current nor old code.
	ErrNotLoaded = modules.ErrNotLoaded
	// ErrTooLarge: the module is over the configured size limit.
	ErrTooLarge = modules.ErrTooLarge
	// ErrTooMany: loading would go over the configured number of modules.
	ErrTooMany = modules.ErrTooMany
	// ErrDuplicate: the same module name twice in one batch.
	ErrDuplicate = modules.ErrDuplicate
	// ErrNoOld: a rollback of a module without old code.
	ErrNoOld = modules.ErrNoOld
	// ErrPurged: a call in flight in a version when it was purged.
	ErrPurged = purger.ErrPurged

	// ErrClosed: the host is closed.
	ErrClosed = errors.New("host: closed")
	// ErrTrap: guest code trapped (the wrapped error is wazero's).
	ErrTrap = errors.New("host: trap")
	// ErrBadResult: a bytes call's callee broke the bytes convention (no
	// alloc or memory export, a result outside its memory, too large).
	ErrBadResult = errors.New("host: bad bytes result")
	// ErrLimit: a configured limit was hit (processes, message size...).
	ErrLimit = errors.New("host: limit")
	// ErrNoProcess: no live process has that pid.
	ErrNoProcess = errors.New("host: no such process")
	// ErrMailboxFull: the process's mailbox is at its limit.
	ErrMailboxFull = errors.New("host: mailbox full")
)

// CallError is the failure of a call of a guest function: from Go, from a
// process (its Exit.Err), or of an external call a guest made. Module and
// Function name what was called; Vsn is the version that ran, 0 when none
// was reached (undef, bad arity); Reason says why, in the words of a
// process's exit; Err is the cause, which wraps the sentinel (ErrUndef,
// ErrBadArity, ErrTrap, ErrPurged, ErrLimit...) or another CallError (an
// external call that failed inside the call). errors.Is matches the
// sentinels through Err, and the sentinel of Reason.
type CallError struct {
	Module, Function string
	Vsn              uint64
	Reason           Reason
	Err              error
}

func (e *CallError) Error() string {
	var b strings.Builder
	b.WriteString("module[")
	b.WriteString(e.Module)
	b.WriteString("]")
	if e.Vsn > 0 {
		b.WriteString(" vsn[")
		b.WriteString(strconv.FormatUint(e.Vsn, 10))
		b.WriteString("]")
	}
	b.WriteString(" function[")
	b.WriteString(modules.Clip(e.Function))
	b.WriteString("]: ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *CallError) Unwrap() error { return e.Err }

// Is matches the sentinel of e's reason.
func (e *CallError) Is(target error) bool {
	s, ok := reasonSentinel[e.Reason]
	return ok && target == s
}

var reasonSentinel = map[Reason]error{
	Undef: ErrUndef, BadArity: ErrBadArity, Trap: ErrTrap, Limit: ErrLimit,
}

// callErr makes a CallError about module:function of version vsn (0: none).
func callErr(module, function string, vsn uint64, reason Reason, err error) *CallError {
	return &CallError{Module: module, Function: function, Vsn: vsn, Reason: reason, Err: err}
}

// Innermost returns the innermost CallError in err's chain (the call that
// failed first, at the bottom of a chain of external calls), or nil.
func Innermost(err error) *CallError {
	var last *CallError
	for err != nil {
		if ce, ok := err.(*CallError); ok {
			last = ce
		}
		err = errors.Unwrap(err)
	}
	return last
}
