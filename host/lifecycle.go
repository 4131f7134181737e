package host

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Closing while code is being loaded.
//
// Close closes the wazero runtime, and wazero does not expect a runtime
// to close under a compile or an instantiation in progress (a compile can
// panic inside wazero). So every compile and instantiation is an
// operation Close waits for: beginOp refuses to start one once the host
// is closed, and Close waits for those in progress, up to closeOpsWait
// (a trusted start function that never returns must not hang Close; past
// the wait, a panic of such an operation is turned into ErrClosed). Calls
// on existing instances need no such care: wazero fails them cleanly once
// their module is closed, and the host reports ErrClosed.

// closeOpsWait bounds how long Close waits for compiles and instantiations.
const closeOpsWait = 5 * time.Second

// Closed reports whether Close has begun: the host then refuses new work
// with ErrClosed (a health check answers that the node is going down).
func (h *Host) Closed() bool { return h.closed.Load() }

// beginOp starts an operation that compiles or instantiates; end it with
// endOp. It fails with ErrClosed once the host is closed.
func (h *Host) beginOp() error {
	h.opsMu.RLock()
	defer h.opsMu.RUnlock()
	if h.closed.Load() {
		return ErrClosed
	}
	h.ops.Add(1)
	return nil
}

func (h *Host) endOp() { h.ops.Done() }

// waitOps waits for the operations in progress, once the host is closed
// (no new one can begin), up to closeOpsWait or the end of ctx.
func (h *Host) waitOps(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		h.ops.Wait()
		close(done)
	}()
	t := time.NewTimer(closeOpsWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
}

// closedErr makes err, an operation's failure, ErrClosed when the host
// was closed meanwhile: the failure is the closing's doing (wazero's
// "module closed", a compile cut short), whatever it looks like.
func (h *Host) closedErr(err error) error {
	if err == nil || !h.closed.Load() || errors.Is(err, ErrClosed) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrClosed, err)
}

// recoverClosed turns a panic inside wazero into ErrClosed in *err when the
// host was closed under the operation; any other panic goes on.
func (h *Host) recoverClosed(err *error) {
	if r := recover(); r != nil {
		if !h.closed.Load() {
			panic(r)
		}
		*err = fmt.Errorf("%w: wazero: %v", ErrClosed, r)
	}
}
