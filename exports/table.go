package exports

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by callers that resolve through the table.
var (
	// ErrUndef means the module has no current version or the current version
	// does not export the function (Erlang's undef).
	ErrUndef = errors.New("exports: undef")
	// ErrBadArity means the function exists but its signature differs from
	// the one the caller uses (Erlang's badarity).
	ErrBadArity = errors.New("exports: bad arity")
)

// chunkBits sets the size of a generation's chunks. A publish copies the
// chunk directory and only the chunks holding changed slots, so switching one
// module costs about the same with one or with thousands of modules loaded.
const (
	chunkBits = 6
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1
)

type chunk[T any] [chunkSize]*T

// generation is immutable once published, but for its pin count.
type generation[T any] struct {
	chunks []*chunk[T]
	seq    uint64
	pins   atomic.Int64
}

// Table maps module:function names to entries of type *T. The zero value is
// not usable; call [New].
type Table[T any] struct {
	gen atomic.Pointer[generation[T]]

	mu       sync.Mutex // serialises Resolve and Publish
	slots    map[string]map[string]*Slot[T]
	nslots   int
	byModule map[string][]*Slot[T]
	// retired are the superseded generations that were pinned when they
	// were superseded, oldest first.
	retired []*generation[T]
}

// New returns an empty table: every name resolves to a slot that is undef.
func New[T any]() *Table[T] {
	t := &Table[T]{
		slots:    map[string]map[string]*Slot[T]{},
		byModule: map[string][]*Slot[T]{},
	}
	t.gen.Store(&generation[T]{})
	return t
}

// Slot is the stable handle of one module:function name. It stays valid for
// the life of the table, across every publish.
type Slot[T any] struct {
	t        *Table[T]
	idx      int
	Module   string
	Function string
}

// Lookup returns the entry the name has in the current generation, or nil
// when the name is undef.
func (s *Slot[T]) Lookup() *T {
	return s.lookupIn(s.t.gen.Load())
}

// LookupIn returns the entry the name has in a pinned generation.
func (s *Slot[T]) LookupIn(p Pin[T]) *T {
	return s.lookupIn(p.g)
}

func (s *Slot[T]) lookupIn(g *generation[T]) *T {
	ci := s.idx >> chunkBits
	if ci >= len(g.chunks) {
		return nil
	}
	c := g.chunks[ci]
	if c == nil {
		return nil
	}
	return c[s.idx&chunkMask]
}

// Resolve returns the slot of module:function, creating it (undef until the
// module exports the name) on first use. Resolve takes a lock; resolve once
// and keep the slot.
func (t *Table[T]) Resolve(module, function string) *Slot[T] {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.resolveLocked(module, function)
}

func (t *Table[T]) resolveLocked(module, function string) *Slot[T] {
	fns := t.slots[module]
	if fns == nil {
		fns = map[string]*Slot[T]{}
		t.slots[module] = fns
	}
	if s := fns[function]; s != nil {
		return s
	}
	s := &Slot[T]{t: t, idx: t.nslots, Module: module, Function: function}
	t.nslots++
	fns[function] = s
	t.byModule[module] = append(t.byModule[module], s)
	return s
}

// Update is the new export set of one module in a publish. Entries maps
// function names to their entries; a nil map (or a missing name) makes every
// other name of the module undef, as after a delete.
type Update[T any] struct {
	Module  string
	Entries map[string]*T
}

// Publish switches the given modules to their new export sets in one atomic
// step: a caller sees either all of the old entries or all of the new ones.
// Names of the modules that were resolved but are not in the new sets become
// undef. Publish returns the sequence number of the new generation.
func (t *Table[T]) Publish(updates ...Update[T]) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Slots for every new export exist before the generation is built.
	for _, u := range updates {
		for fn := range u.Entries {
			t.resolveLocked(u.Module, fn)
		}
	}
	old := t.gen.Load()
	nchunks := (t.nslots + chunkSize - 1) >> chunkBits
	chunks := make([]*chunk[T], nchunks)
	copy(chunks, old.chunks)
	copied := map[int]bool{}
	for _, u := range updates {
		for _, s := range t.byModule[u.Module] {
			ci := s.idx >> chunkBits
			if !copied[ci] {
				c := new(chunk[T])
				if chunks[ci] != nil {
					*c = *chunks[ci]
				}
				chunks[ci] = c
				copied[ci] = true
			}
			chunks[ci][s.idx&chunkMask] = u.Entries[s.Function]
		}
	}
	g := &generation[T]{chunks: chunks, seq: old.seq + 1}
	t.gen.Store(g)
	// Only a generation that was current can gain pins, so a superseded
	// one with no pins now never will again.
	if old.pins.Load() > 0 {
		t.retired = append(t.retired, old)
	}
	return g.seq
}

// Pin is a generation held for a call chain: every lookup through it sees
// the export table as it was when the chain began, so modules switched
// together are seen together. The zero Pin is not valid.
type Pin[T any] struct{ g *generation[T] }

// Valid reports whether p holds a generation.
func (p Pin[T]) Valid() bool { return p.g != nil }

// Seq returns the pinned generation's sequence number.
func (p Pin[T]) Seq() uint64 { return p.g.seq }

// Pin holds the current generation until [Table.Unpin]. Code that became
// old in a later publish stays reachable through the pin; see
// [Table.WaitUnpinned].
func (t *Table[T]) Pin() Pin[T] {
	for {
		g := t.gen.Load()
		g.pins.Add(1)
		if t.gen.Load() == g {
			return Pin[T]{g}
		}
		g.pins.Add(-1) // superseded meanwhile: pin the new one
	}
}

// Unpin releases a pin.
func (t *Table[T]) Unpin(p Pin[T]) { p.g.pins.Add(-1) }

// WaitUnpinned waits until no generation older than seq is pinned, that is
// until no call chain can still reach entries that a publish numbered seq
// replaced. It polls: call chains are short and purges are rare.
func (t *Table[T]) WaitUnpinned(ctx context.Context, seq uint64) error {
	wait := time.Microsecond
	for {
		t.mu.Lock()
		busy := false
		kept := t.retired[:0]
		for _, g := range t.retired {
			if g.pins.Load() > 0 {
				kept = append(kept, g)
				if g.seq < seq {
					busy = true
				}
			}
		}
		clear(t.retired[len(kept):])
		t.retired = kept
		t.mu.Unlock()
		if !busy {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Millisecond)
	}
}

// Seq returns the sequence number of the current generation; it grows by one
// with every publish.
func (t *Table[T]) Seq() uint64 { return t.gen.Load().seq }
