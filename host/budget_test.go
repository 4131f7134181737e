package host_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/hosttest"
)

const budget = 32 << 20

// budgetNode is a node with a 32 MiB memory budget, instances allowed to
// grow to 1 GiB (so the budget, not the per-instance cap, refuses), and
// mailboxes as large as the budget.
func budgetNode(t *testing.T, mode host.Mode) *hosttest.Node {
	t.Helper()
	n := hosttest.NewNode(t, host.NewConfig().WithMode(mode).WithMemoryBudget(budget).
		WithMemoryLimitPages(16384).WithMailboxBytes(1<<30))
	n.Load("hog", wasm("hog"))
	return n
}

// settled waits for the charges of closed instances and exited processes
// to be given back, and checks that what is left is close to base.
func settled(t *testing.T, h *host.Host, base int64) {
	t.Helper()
	hosttest.WaitFor(t, func() bool { return h.MemoryUsage().Used <= base+1<<20 })
}

// alive checks that the node still does its work after a guest hit the
// budget: a Go call of a module loaded before.
func alive(t *testing.T, n *hosttest.Node) {
	t.Helper()
	n.Load("counter", wasm("counter_v1"))
	if got := call1(t, n.H, "counter", "version"); got != 1 {
		t.Fatalf("counter:version() = %d after the budget was hit", got)
	}
}

func forModes(t *testing.T, f func(t *testing.T, mode host.Mode)) {
	for _, mode := range []host.Mode{host.Sandboxed, host.Trusted} {
		t.Run(mode.String(), func(t *testing.T) { f(t, mode) })
	}
}

// A process that grows its memory until refused exits with reason limit;
// the memory goes back to the budget.
func TestBudgetGrowProcess(t *testing.T) {
	forModes(t, func(t *testing.T, mode host.Mode) {
		n := budgetNode(t, mode)
		base := n.H.MemoryUsage().Used
		pid := n.Spawn("hog", "run", "")
		exit, err := n.H.Wait(context.Background(), pid)
		if err != nil {
			t.Fatal(err)
		}
		if exit.Reason != host.Limit || !errors.Is(exit.Err, host.ErrLimit) {
			t.Fatalf("exit %v, want limit (memory budget)", exit)
		}
		u := n.H.MemoryUsage()
		if u.Peak > budget || u.Refused == 0 {
			t.Errorf("usage %+v: want a peak within %d and refusals", u, budget)
		}
		settled(t, n.H, base)
		alive(t, n)
	})
}

// A Go call whose guest traps after a refused grow fails with ErrLimit; a
// guest that copes with the refusal returns normally.
func TestBudgetGrowCall(t *testing.T) {
	forModes(t, func(t *testing.T, mode host.Mode) {
		n := budgetNode(t, mode)
		base := n.H.MemoryUsage().Used
		_, err := n.H.Call(context.Background(), "hog", "grow")
		if !errors.Is(err, host.ErrLimit) {
			t.Fatalf("hog:grow() = %v, want ErrLimit", err)
		}
		pages := call1(t, n.H, "hog", "grow_ok")
		if pages == 0 || pages*64<<10 > budget {
			t.Errorf("hog:grow_ok() got %d pages, want some within the budget", pages)
		}
		settled(t, n.H, base+int64(pages+2)*64<<10+8<<20) // the instance may be kept for the next call
		alive(t, n)
	})
}

// A process that floods its own mailbox is refused by the budget (send
// returns -2), not by its mailbox bound; Host.Send says ErrLimit; the
// messages go back to the budget when it is killed.
func TestBudgetMailbox(t *testing.T) {
	n := budgetNode(t, host.Sandboxed)
	base := n.H.MemoryUsage().Used
	pid := n.Spawn("hog", "flood", "")
	hosttest.WaitFor(t, func() bool { return len(n.Log.Of(pid)) > 0 })
	if got := n.Log.Of(pid); got[0] != "flood -2" {
		t.Fatalf("flood logged %q, want a send refused with -2", got)
	}
	if u := n.H.MemoryUsage(); u.Used > budget || u.Used < budget/2 {
		t.Errorf("usage %+v while the mailbox is full", u)
	}
	if err := n.H.Send(pid, make([]byte, 1<<20)); !errors.Is(err, host.ErrLimit) {
		t.Errorf("Send of 1 MiB to a node at its budget: %v, want ErrLimit", err)
	}
	if err := n.H.Kill(pid); err != nil {
		t.Fatal(err)
	}
	if _, err := n.H.Wait(context.Background(), pid); err != nil {
		t.Fatal(err)
	}
	settled(t, n.H, base)
	alive(t, n)
}

// A process whose state outgrows the budget exits with reason limit.
func TestBudgetState(t *testing.T) {
	n := budgetNode(t, host.Sandboxed)
	base := n.H.MemoryUsage().Used
	pid := n.Spawn("hog", "statehog", "")
	exit, err := n.H.Wait(context.Background(), pid)
	if err != nil {
		t.Fatal(err)
	}
	if exit.Reason != host.Limit {
		t.Fatalf("exit %v, want limit", exit)
	}
	settled(t, n.H, base)
}

// Spawns past the budget fail with ErrLimit (from Go) or -2 (from a
// guest), before the process limit; killing the processes gives it back.
func TestBudgetSpawn(t *testing.T) {
	n := budgetNode(t, host.Sandboxed)
	base := n.H.MemoryUsage().Used
	pid := n.Spawn("hog", "spawner", "")
	hosttest.WaitFor(t, func() bool { return len(n.Log.Of(pid)) > 0 })
	var spawned, code int
	if _, err := fmt.Sscanf(n.Log.Of(pid)[0], "spawned %d %d", &spawned, &code); err != nil || code != -2 || spawned < 10 {
		t.Fatalf("spawner logged %q, want some spawns then -2", n.Log.Of(pid))
	}
	if _, err := n.H.Spawn(context.Background(), "hog", "idle", nil); !errors.Is(err, host.ErrLimit) {
		t.Errorf("Spawn at the budget: %v, want ErrLimit", err)
	}
	if _, err := n.H.Call(context.Background(), "hog", "grow"); !errors.Is(err, host.ErrLimit) {
		t.Errorf("a Go call growing its memory at the budget: %v, want ErrLimit", err)
	}
	for _, p := range n.H.Processes() {
		if p.Exit == nil {
			_ = n.H.Kill(p.PID)
		}
	}
	settled(t, n.H, base)
	alive(t, n)
}

// A load the budget cannot hold fails with ErrLimit and changes nothing.
func TestBudgetLoad(t *testing.T) {
	n := budgetNode(t, host.Sandboxed)
	big := wasm("counter_v1")
	// A custom section makes the module's bytes cost more than the budget.
	pad := make([]byte, budget/8)
	section := append([]byte{0}, uleb(uint64(len(pad)+4))...)
	section = append(section, 3, 'p', 'a', 'd')
	big = append(append(append([]byte(nil), big...), section...), pad[:len(pad)-3]...)
	_, err := n.H.Load(context.Background(), "big", big)
	if !errors.Is(err, host.ErrLimit) || !strings.Contains(err.Error(), "budget") {
		t.Fatalf("load of a module over the budget: %v, want ErrLimit", err)
	}
	if _, err := n.H.Which("big"); err == nil {
		t.Error("the refused module is loaded")
	}
	alive(t, n)
}

func uleb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func TestBudgetConfig(t *testing.T) {
	for _, b := range []int64{-1, 1 << 20} {
		if _, err := host.New(context.Background(), host.NewConfig().WithMemoryBudget(b)); err == nil {
			t.Errorf("budget %d accepted", b)
		}
	}
	if d := host.DefaultMemoryBudget(); d < 16<<20 || host.NewConfig().MemoryBudget() != d {
		t.Errorf("default budget %d", d)
	}
}
