package host_test

import (
	"slices"
	"testing"

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
