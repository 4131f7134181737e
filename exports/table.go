package exports

import (
	"errors"
	"sync"
	"sync/atomic"
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

// generation is immutable once published.
type generation[T any] struct {
	chunks []*chunk[T]
	seq    uint64
}

// Table maps module:function names to entries of type *T. The zero value is
// not usable; call [New].
type Table[T any] struct {
	gen atomic.Pointer[generation[T]]

	mu       sync.Mutex // serialises Resolve and Publish
	slots    map[string]map[string]*Slot[T]
	nslots   int
	byModule map[string][]*Slot[T]
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

// Find returns the slot of module:function if it exists (a version
// exported the name, or Resolve made it), or nil, creating nothing: a
// lookup of a name nothing exports costs no memory.
func (t *Table[T]) Find(module, function string) *Slot[T] {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.slots[module][function]
}

// Len returns the number of slots.
func (t *Table[T]) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nslots
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
	return g.seq
}

// Seq returns the sequence number of the current generation; it grows by one
// with every publish.
func (t *Table[T]) Seq() uint64 { return t.gen.Load().seq }
