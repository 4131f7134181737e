package host

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// Linear memories.
//
// Every linear memory lives outside the Go heap: an address range of its
// maximum size mapped from the system, committed (made accessible) as it
// grows, so that growing never copies it (a guest growing a large memory
// page by page through the heap would copy it at each step, and keep the
// garbage collector busy). Its pages go back to the system when its
// instance closes. An instance closed while a call may still run in it
// keeps its range mapped (reading zeros) until its family, which the
// goroutine running it holds, is garbage: unmapping it under running code
// would crash the process. A process's memories are unmapped by its own
// goroutine once it runs no Wasm, after its exit is reported, so that a
// kill does not wait for the system to take the pages back.
//
// Small memories used to start in the heap. But the budget lets guests
// hold as many of them as it has room for (a spawner filling a 512 MiB
// budget with idle 128 KiB processes), and their capacity, touched or not,
// counted toward the heap the collector paces on: the heap sat at the
// process's soft memory limit, and the collector ran without a pause,
// taking a CPU and stopping the world every few hundred milliseconds. Out
// of the heap, they cost the collector nothing, and only the pages a guest
// touches are resident (memlimit.go lowers the runtime's limit by them).
//
// Where no range can be mapped (a platform without mmap, no address space
// left) a memory starts in the heap, and moves out once it grows past
// mappedMin. The heap's small memories are recycled when the host closes
// their instance knowing it idle (instance.closeIdle): a reload's new
// instances then reuse the memories of the version it purged instead of
// allocating. An instance closed while a call may run in it (a kill, an
// interrupted call, trusted code that cannot be stopped) lets its memory go
// to the GC, which frees it once nothing refers to it.
const mappedMin = 1 << 20

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
	// mapped is the memory's address range once it left the heap (nil
	// before).
	mapped *mapping
	freed  atomic.Bool // Free ran
	// mu orders Reallocate, on the guest's goroutine, with a Free on
	// another (a kill closing the instance under a running grow): a grow
	// after the Free is refused, so nothing is charged that no Free will
	// give back.
	mu sync.Mutex
}

// mapping is a memory's range mapped from the system: reserved to the
// memory's maximum, committed up to its size.
type mapping struct {
	b         []byte
	committed uint64
	gone      atomic.Bool // unmapped
}

func (mp *mapping) unmap() {
	if !mp.gone.Swap(true) {
		unreserve(mp.b)
	}
}

// memoryAllocator returns the allocator for one new instance.
func memoryAllocator(in *instance) experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capBytes, maxBytes uint64) experimental.LinearMemory {
		m := &linearMemory{max: maxBytes, in: in}
		if m.mapInitial(capBytes) {
			return m
		}
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

// mapInitial gives a new memory its address range outside the heap at
// once, with capBytes committed and charged (the instance was admitted by
// instantiate). false when no range can be had (a platform without mmap,
// no address space left): the memory then starts in the heap.
func (m *linearMemory) mapInitial(capBytes uint64) bool {
	if m.max == 0 || capBytes > m.max {
		return false
	}
	r, err := reserve(m.max)
	if err != nil {
		return false
	}
	mp := &mapping{b: r}
	if capBytes > 0 {
		if err := commit(mp.b, 0, capBytes); err != nil {
			mp.unmap()
			return false
		}
	}
	mp.committed = capBytes
	m.mapped = mp
	m.buf = mp.b[:0:capBytes]
	m.charged = int64(capBytes)
	m.in.code.h.mem.force(m.charged)
	m.in.fam.keepMem(m)
	runtime.AddCleanup(m, (*mapping).unmap, mp)
	return true
}

// Reallocate implements experimental.LinearMemory: the bytes past the
// current length are zero (a recycled buffer was cleared when it was
// freed), and growing past the capacity copies, doubling the capacity
// when the budget allows it (an eighth more when only that fits, so that
// the copies stay few). When not even that fits, it refuses (memory.grow returns -1) and
// marks the instance, so that a guest that then traps ends with reason
// limit.
func (m *linearMemory) Reallocate(size uint64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if size > m.max || m.freed.Load() {
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	if m.mapped != nil || size > mappedMin {
		if buf, ok := m.growMapped(size); ok {
			return buf
		}
		if m.mapped != nil || m.in.fam.overBudget.Load() {
			return nil
		}
		// No mapping to be had (a platform without mmap, no address
		// space left): the heap, as for small memories.
	}
	b := &m.in.code.h.mem
	newCap := max(size, min(2*uint64(cap(m.buf)), m.max))
	if !b.charge(int64(newCap) - m.charged) {
		// Near the budget: an eighth more, not just what is asked, so
		// that a guest growing page by page still copies its memory a
		// few times, not at each grow; when not even that fits, refuse.
		newCap = max(size, min(uint64(cap(m.buf))*9/8, m.max))
		newCap = min((newCap+recycledPageBytes-1)&^(recycledPageBytes-1), max(m.max, size))
		if !b.charge(int64(newCap) - m.charged) {
			m.in.fam.overBudget.Store(true)
			return nil
		}
	}
	m.charged = int64(newCap)
	nb := make([]byte, size, newCap)
	copyInChunks(nb, m.buf)
	m.buf = nb
	return m.buf
}

// growMapped grows a memory that left the heap, or moves it out: it
// commits the range up to size, charged to the budget. ok is false when
// the budget refuses (marking the family) or no range can be mapped.
func (m *linearMemory) growMapped(size uint64) (_ []byte, ok bool) {
	b := &m.in.code.h.mem
	if !b.charge(int64(size) - m.charged) {
		m.in.fam.overBudget.Store(true)
		return nil, false
	}
	mp := m.mapped
	if mp == nil {
		r, err := reserve(m.max)
		if err != nil {
			b.release(int64(size) - m.charged)
			return nil, false
		}
		mp = &mapping{b: r}
	}
	if err := commit(mp.b, mp.committed, size); err != nil {
		b.release(int64(size) - m.charged)
		if m.mapped == nil {
			mp.unmap()
		}
		return nil, false
	}
	mp.committed = size
	if m.mapped == nil {
		copyInChunks(mp.b, m.buf)
		m.mapped = mp
		// The family keeps the memory reachable while its goroutine may
		// run in it; the range is unmapped once neither is (or at Free,
		// when idle).
		m.in.fam.keepMem(m)
		runtime.AddCleanup(m, (*mapping).unmap, mp)
	}
	m.charged = int64(size)
	m.buf = mp.b[:size:size]
	return m.buf, true
}

// Free implements experimental.LinearMemory: wazero calls it when the
// instance closes. The memory of an instance closed idle goes back to its
// pool, cleared; its charge goes back to the budget either way.
func (m *linearMemory) Free() {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.buf
	m.buf = nil
	m.in.code.h.mem.release(m.charged)
	m.charged = 0
	defer m.freed.Store(true)
	if mp := m.mapped; mp != nil {
		switch {
		case m.in.closedIdle.Load():
			mp.unmap()
			m.in.fam.dropMem(m)
		case m.in.fam.ownerDone.Load(), m.in.fam.proc != nil && m.in.fam.proc.killed():
			// The process's goroutine unmaps it when it exits
			// (family.unmapFreed, after the exit is reported): a kill
			// need not wait for the pages to be discarded.
		default:
			// A call may still run in it: its pages go back now, the
			// range once the family is garbage.
			discard(mp.b[:mp.committed])
		}
		return
	}
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
