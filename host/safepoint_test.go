package host_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/hosttest"
)

// TestWASICallIsASafepoint: a process sleeping in WASI's poll_oneoff is in
// host code, so checking whether it lingers in a version it linked does not
// wait for the sleep to end (it would see the "woke" line first).
func TestWASICallIsASafepoint(t *testing.T) {
	var log hosttest.Log
	h := newHost(t, host.NewConfig().WithLog(&log).WithWASI("wasi_sleeper"))
	if _, err := h.Load(ctx, "chain_y", chainY(t, 1)); err != nil {
		t.Fatal(err)
	}
	mustLoad(t, h, "wasi_sleeper", "wasi_sleeper")
	pid, err := h.Spawn(ctx, "wasi_sleeper", "run", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Load(ctx, "chain_y", chainY(t, 2)); err != nil {
		t.Fatal(err)
	}
	// Whether run reached the sleep yet or not, chain_y v1 is not on its
	// stack; the answer must come while it sleeps.
	lingers, err := h.CheckProcessCode(pid, "chain_y")
	if err != nil || lingers {
		t.Fatalf("check_process_code = %v, %v; want false", lingers, err)
	}
	if slices.Contains(log.Of(pid), "woke") {
		t.Fatal("the check waited for the WASI sleep to end")
	}
	// Kill it once it has left the sleep (closing an instance while a WASI
	// call of it runs is a data race inside wazero).
	hosttest.WaitFor(t, func() bool { return slices.Contains(log.Of(pid), "woke") })
	if err := h.Kill(pid); err != nil {
		t.Fatal(err)
	}
}

// TestStartFunctionExternalCall: a start function may make external calls
// (its instance is not registered yet when it runs), in both modes.
func TestStartFunctionExternalCall(t *testing.T) {
	for _, mode := range []host.Mode{host.Sandboxed, host.Trusted} {
		t.Run(mode.String(), func(t *testing.T) {
			h := newHost(t, host.NewConfig().WithMode(mode).WithLog(nil))
			if _, err := h.Load(ctx, "chain_y", chainY(t, 1)); err != nil {
				t.Fatal(err)
			}
			mustLoad(t, h, "start_ext", "start_ext")
			if res, err := h.Call(ctx, "start_ext", "got"); err != nil || res[0] != 100001 {
				t.Fatalf("start_ext:got() = %v, %v; want 100001", res, err)
			}
		})
	}
}

// TestStartFunctionInProcessIsHostCode: a process whose external call makes
// an instance runs that instance's start function as Wasm; when the start
// function blocks in receive, the process is in host code, and a check of
// a version it linked before answers without waiting for it.
func TestStartFunctionInProcessIsHostCode(t *testing.T) {
	h := newHost(t, host.NewConfig().WithLog(nil))
	if _, err := h.Load(ctx, "chain_y", chainY(t, 1)); err != nil {
		t.Fatal(err)
	}
	mustLoad(t, h, "start_block", "start_block")
	mustLoad(t, h, "chain_b", "chain_b")
	pid, err := h.Spawn(ctx, "chain_b", "run", nil)
	if err != nil {
		t.Fatal(err)
	}
	hosttest.WaitFor(t, func() bool {
		pi, err := h.Process(pid)
		return err == nil && pi.Status == host.Suspended // in start_block's start function
	})
	if _, err := h.Load(ctx, "chain_y", chainY(t, 2)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		lingers, err := h.CheckProcessCode(pid, "chain_y")
		if err == nil && lingers {
			err = errors.New("check_process_code = true; the process has no chain_y frame")
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(hosttest.Timeout):
		t.Fatal("check_process_code waited for a process blocked in a start function")
	}
	if err := h.Kill(pid); err != nil {
		t.Fatal(err)
	}
}

// TestLongGoCallDoesNotHoldPurge: a Go call that made one external call
// into a version and then runs elsewhere gives the version's gate back at
// its next tick once a purge waits: the purge neither waits for the call
// to end nor interrupts it.
func TestLongGoCallDoesNotHoldPurge(t *testing.T) {
	var log hosttest.Log
	h := newHost(t, host.NewConfig().WithLog(&log))
	if _, err := h.Load(ctx, "chain_y", chainY(t, 1)); err != nil {
		t.Fatal(err)
	}
	mustLoad(t, h, "start_block", "start_block")
	mustLoad(t, h, "chain_b", "chain_b")
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	callErr := make(chan error, 1)
	go func() {
		_, err := h.Call(cctx, "chain_b", "once")
		callErr <- err
	}()
	hosttest.WaitFor(t, func() bool { return slices.Contains(log.Text(), "called") })
	if _, err := h.Load(ctx, "chain_y", chainY(t, 2)); err != nil {
		t.Fatal(err)
	}
	res, err := h.Purge(ctx, "chain_y")
	if err != nil || res.Interrupted != 0 || res.Killed != 0 {
		t.Fatalf("purge: %+v, %v; want nothing interrupted or killed", res, err)
	}
	select {
	case err := <-callErr:
		t.Fatalf("the Go call ended during the purge: %v", err)
	default:
	}
	cancel()
	if err := <-callErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("the Go call, cancelled: %v", err)
	}
}
