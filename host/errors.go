package host

import (
	"errors"

	"github.com/wasmhot/wasmhot/exports"
	"github.com/wasmhot/wasmhot/modules"
	"github.com/wasmhot/wasmhot/purger"
)

// The errors of the host API. Most are the sentinels of the package that
// owns the concept, repeated here so that users of host need import nothing
// else; match them with errors.Is.
var (
	ErrUndef     = exports.ErrUndef
	ErrBadArity  = exports.ErrBadArity
	ErrNotPurged = modules.ErrNotPurged
	ErrSticky    = modules.ErrSticky
	ErrBadModule = modules.ErrBadModule
	ErrBadName   = modules.ErrBadName
	ErrNotLoaded = modules.ErrNotLoaded
	ErrTooLarge  = modules.ErrTooLarge
	ErrTooMany   = modules.ErrTooMany
	ErrPurged    = purger.ErrPurged

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
