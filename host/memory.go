package host

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// Linear memories.
//
// wazero backs each instance's linear memory with a Go []byte. Every load,
// reload and new pooled instance allocates one (64 KiB for the smallest
// module), and those allocations, not the host's own, set how often the Go
// GC runs while code is being changed. A GC cycle on a machine whose cores
// are busy with callers can hold an allocating goroutine (the one
// reloading) for a scheduler time slice or two. So the host recycles the
// memories of instances it closes while they are idle, which no goroutine
// can still be running: a reload's new instances then mostly reuse the
// memories of the version it purged instead of allocating.
//
// A memory is recycled only when the host closes its instance knowing it
// idle (instance.closeIdle). An instance closed while a call may run in it
// (a kill, an interrupted call, trusted code that cannot be stopped) lets
// its memory go to the GC, which frees it once nothing refers to it.

// recycledCaps are the capacities kept for reuse: small memories, which
// are most instances' (a Go guest's memory is larger and is left to the GC).
const (
	recycledPageBytes = 64 << 10
	recycledMaxPages  = 16
)

// memPools holds idle memories by capacity in pages (index 1..16).
var memPools [recycledMaxPages + 1]sync.Pool

// linearMemory is an instance's memory (experimental.LinearMemory). Its
// capacity is charged to the node's memory budget (budget.go).
type linearMemory struct {
	buf []byte
	max uint64
	in  *instance
	// charged is the capacity charged to the budget.
	charged int64
}

// memoryAllocator returns the allocator for one new instance.
func memoryAllocator(in *instance) experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capBytes, maxBytes uint64) experimental.LinearMemory {
		m := &linearMemory{max: maxBytes, in: in}
		if pages := capBytes / recycledPageBytes; capBytes%recycledPageBytes == 0 && pages >= 1 && pages <= recycledMaxPages {
			if b, ok := memPools[pages].Get().(*[]byte); ok {
				m.buf = (*b)[:0]
			}
		}
		if m.buf == nil {
			m.buf = make([]byte, 0, capBytes)
		}
		// The instance was admitted by instantiate, which checked that its
		// initial memory fits (a refusal here would be a panic in wazero).
		m.charged = int64(cap(m.buf))
		in.code.h.mem.force(m.charged)
		return m
	})
}

// Reallocate implements experimental.LinearMemory: the bytes past the
// current length are zero (a recycled buffer was cleared when it was
// freed), and growing past the capacity copies, doubling the capacity
// when the budget allows it. When not even that fits, it refuses (memory.grow returns -1) and
// marks the instance, so that a guest that then traps ends with reason
// limit.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	b := &m.in.code.h.mem
	newCap := max(size, min(2*uint64(cap(m.buf)), m.max))
	if !b.charge(int64(newCap) - m.charged) {
		// Near the budget: half of what is left, so that a guest growing
		// page by page still copies its memory a few times, not at each
		// grow; then just what is asked.
		left := max(b.limit-b.used.Load(), 0)
		newCap = max(size, min(newCap, uint64(m.charged+left/2))&^(recycledPageBytes-1))
		if !b.charge(int64(newCap) - m.charged) {
			newCap = size
			if !b.charge(int64(newCap) - m.charged) {
				m.in.fam.overBudget.Store(true)
				return nil
			}
		}
	}
	m.charged = int64(newCap)
	nb := make([]byte, size, newCap)
	copy(nb, m.buf)
	m.buf = nb
	return m.buf
}

// Free implements experimental.LinearMemory: wazero calls it when the
// instance closes. The memory of an instance closed idle goes back to its
// pool, cleared; its charge goes back to the budget either way.
func (m *linearMemory) Free() {
	b := m.buf
	m.buf = nil
	m.in.code.h.mem.release(m.charged)
	m.charged = 0
	if !m.in.closedIdle.Load() {
		return
	}
	pages := uint64(cap(b)) / recycledPageBytes
	if uint64(cap(b))%recycledPageBytes != 0 || pages < 1 || pages > recycledMaxPages {
		return
	}
	b = b[:cap(b)]
	clear(b)
	memPools[pages].Put(&b)
}
