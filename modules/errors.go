package modules

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of the code table, matched with errors.Is.
var (
	// ErrBadName: the name is not [a-z][a-z0-9_]{0,63}.
	ErrBadName = errors.New("modules: bad module name")
	// ErrBadModule: the bytes are not a valid Wasm module, or it cannot run
	// here (an import that cannot be satisfied, a limit exceeded). The
	// wrapped message says which.
	ErrBadModule = errors.New("modules: bad module")
	// ErrNotPurged: the module has old code; purge it before loading again.
	ErrNotPurged = errors.New("modules: not purged")
	// ErrSticky: the module is sticky and refuses reload and delete.
	ErrSticky = errors.New("modules: sticky")
	// ErrNotLoaded: the module has no version loaded.
	ErrNotLoaded = errors.New("modules: not loaded")
	// ErrDuplicate: the same module twice in one batch.
	ErrDuplicate = errors.New("modules: duplicated in batch")
	// ErrTooLarge: the module's bytes exceed the configured size limit.
	ErrTooLarge = errors.New("modules: module too large")
	// ErrTooMany: loading would exceed the configured number of modules.
	ErrTooMany = errors.New("modules: too many modules")
	// ErrNoOld: a rollback of a module that has no old version.
	ErrNoOld = errors.New("modules: no old version")
)

// ModuleError is the failure of one module in a batch.
type ModuleError struct {
	Module string
	Err    error
}

func (e *ModuleError) Error() string {
	msg := e.Err.Error()
	if prefix := fmt.Sprintf("module[%s]", e.Module); !strings.HasPrefix(msg, prefix) {
		msg = prefix + ": " + msg
	}
	return msg
}
func (e *ModuleError) Unwrap() error { return e.Err }

// BatchError lists every module of a batch that failed, like Erlang's
// {error, [{Module, What}]}. errors.Is matches any of them.
type BatchError struct {
	Errs []*ModuleError
}

func (e *BatchError) Error() string {
	parts := make([]string, len(e.Errs))
	for i, m := range e.Errs {
		parts[i] = m.Error()
	}
	return "modules: batch refused, nothing loaded: " + strings.Join(parts, "; ")
}

// Unwrap returns the per-module errors.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, len(e.Errs))
	for i, m := range e.Errs {
		errs[i] = m
	}
	return errs
}

func batchError(errs []*ModuleError) error {
	if len(errs) == 0 {
		return nil
	}
	return &BatchError{Errs: errs}
}
