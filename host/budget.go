package host

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// The memory budget.
//
// The node's memory is mostly what guests make it hold: linear memories,
// messages queued in mailboxes, process states, compiled code, and the
// modules being loaded. Each is charged to one node-wide budget when it is
// taken and released when it is given back, so that no guest (and no
// client loading code) can make the node allocate past it: the action that
// would fail with a limit (memory.grow returns -1, then the process exits
// with reason limit if the guest cannot go on; a send, spawn, state change
// or load fails with ErrLimit) and the node lives on.
//
// The charges are estimates of what the Go process holds for each thing,
// not a measure of its heap: a linear memory is charged its capacity, a
// message or state its length plus a fixed overhead, a process a fixed
// cost for its goroutine and tables, and a version of a module a multiple
// of its bytes for its compiled code (measured: a 2.4 MB Go guest holds
// 18 MB once compiled).

const (
	// processCost is charged for each live process: its goroutine's stack,
	// its mailbox, tables and bookkeeping.
	processCost = 16 << 10
	// messageCost is charged for each queued message, beside its bytes.
	messageCost = 64
	// codeCostFactor times a module's bytes is charged for a version of
	// it, from the start of its load until it is freed.
	codeCostFactor = 8
	// minMemoryBudget is the smallest budget a Config accepts.
	minMemoryBudget = 16 << 20
)

// budget is the node-wide memory account. A zero limit means no bound:
// charges are still counted, for MemoryUsage.
type budget struct {
	limit int64
	used  atomic.Int64
	peak  atomic.Int64
	// refused counts the charges refused.
	refused atomic.Int64
}

// charge takes n bytes from the budget, or refuses them (false) when they
// would take it past its limit.
func (b *budget) charge(n int64) bool {
	for {
		u := b.used.Load()
		if b.limit > 0 && u+n > b.limit && n > 0 {
			b.refused.Add(1)
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			b.notePeak(u + n)
			return true
		}
	}
}

// force charges n bytes whatever the limit (for what is already held).
func (b *budget) force(n int64) {
	b.notePeak(b.used.Add(n))
}

func (b *budget) notePeak(u int64) {
	for {
		p := b.peak.Load()
		if u <= p || b.peak.CompareAndSwap(p, u) {
			return
		}
	}
}

// release gives back n bytes charged before.
func (b *budget) release(n int64) { b.used.Add(-n) }

// fits reports whether n more bytes would fit now.
func (b *budget) fits(n int64) bool {
	return b.limit <= 0 || b.used.Load()+n <= b.limit
}

// MemoryUsage is what the memory budget holds now.
type MemoryUsage struct {
	// Budget is the configured budget in bytes (0: none).
	Budget int64
	// Used is the bytes charged now; Peak the most ever charged at once.
	Used, Peak int64
	// Refused counts the charges refused for want of budget (each a
	// failed action: a memory.grow, a send, a spawn, a load...).
	Refused int64
}

// MemoryUsage returns what is charged to the node's memory budget.
func (h *Host) MemoryUsage() MemoryUsage {
	return MemoryUsage{
		Budget:  h.mem.limit,
		Used:    h.mem.used.Load(),
		Peak:    h.mem.peak.Load(),
		Refused: h.mem.refused.Load(),
	}
}

// DefaultMemoryBudget is the budget of NewConfig: three quarters of the
// memory the process may use (the cgroup's memory.max when there is one,
// else the machine's memory), 4 GiB where neither can be read.
var DefaultMemoryBudget = sync.OnceValue(func() int64 {
	avail := machineMemory()
	if limit := cgroupMemoryMax(); limit > 0 && (avail <= 0 || limit < avail) {
		avail = limit
	}
	if avail <= 0 {
		return 4 << 30
	}
	return max(avail/4*3, minMemoryBudget)
})

// machineMemory reads MemTotal from /proc/meminfo (0 when unknown).
func machineMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return n << 10
				}
			}
		}
	}
	return 0
}

// cgroupMemoryMax reads the cgroup v2 memory limit of the process (0 when
// there is none or it cannot be read).
func cgroupMemoryMax() int64 {
	b, err := os.ReadFile("/sys/fs/cgroup/memory.max")
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0 // "max"
	}
	return n
}
