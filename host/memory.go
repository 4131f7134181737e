package host

import (
	"sync"
	"sync/atomic"

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

// linearMemory is an instance's memory (experimental.LinearMemory).
type linearMemory struct {
	buf []byte
	max uint64
	// idle is set by closeIdle before the instance is closed: its memory
	// may be reused.
	idle *atomic.Bool
}

// memoryAllocator returns the allocator for one new instance; idle is the
// instance's mark that it is closed idle.
func memoryAllocator(idle *atomic.Bool) experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capBytes, maxBytes uint64) experimental.LinearMemory {
		m := &linearMemory{max: maxBytes, idle: idle}
		if pages := capBytes / recycledPageBytes; capBytes%recycledPageBytes == 0 && pages >= 1 && pages <= recycledMaxPages {
			if b, ok := memPools[pages].Get().(*[]byte); ok {
				m.buf = (*b)[:0]
				return m
			}
		}
		m.buf = make([]byte, 0, capBytes)
		return m
	})
}

// Reallocate implements experimental.LinearMemory: the bytes past the
// current length are zero (a recycled buffer was cleared when it was
// freed), and growing past the capacity copies.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	nb := make([]byte, size, max(size, min(2*uint64(cap(m.buf)), m.max)))
	copy(nb, m.buf)
	m.buf = nb
	return m.buf
}

// Free implements experimental.LinearMemory: wazero calls it when the
// instance closes. The memory of an instance closed idle goes back to its
// pool, cleared.
func (m *linearMemory) Free() {
	b := m.buf
	m.buf = nil
	if !m.idle.Load() {
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
