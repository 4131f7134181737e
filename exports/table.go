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

	mu       sync.Mutex // serialises Resolve, Publish and Sweep
	slots    map[string]map[string]*Slot[T]
	nslots   int   // indexes handed out (live slots and free ones)
	free     []int // indexes of retired slots, for new slots
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

// Slot is the stable handle of one module:function name. It stays valid
// across every publish until [Table.Sweep] retires it: a slot that is
// undef and not pinned may be retired, and its index given to another
// name. A holder of a slot that may be retired checks [Slot.Retired] after
// each Lookup and, when it is, finds the name's slot again.
type Slot[T any] struct {
	t        *Table[T]
	idx      int
	pins     int // under t.mu
	retired  atomic.Bool
	Module   string
	Function string
}

// Retired reports whether Sweep retired the slot. A Lookup made before
// Retired returns false is the name's; after a true, it means nothing.
func (s *Slot[T]) Retired() bool { return s.retired.Load() }

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

// Len returns the number of live slots.
func (t *Table[T]) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nslots - len(t.free)
}

// ResolvePinned is Resolve, and pins the slot: Sweep keeps it until as
// many Unpin calls. Pin the slots whose index is kept outside the table
// (compiled into code, say).
func (t *Table[T]) ResolvePinned(module, function string) *Slot[T] {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.resolveLocked(module, function)
	s.pins++
	return s
}

// Unpin undoes one ResolvePinned.
func (t *Table[T]) Unpin(s *Slot[T]) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.pins <= 0 {
		panic("exports: Unpin of a slot not pinned")
	}
	s.pins--
}

// Sweep retires the slots of module that are undef and not pinned, and
// returns them: the table forgets their names, and their indexes go to
// the next new names. Without sweeps, every name ever exported would keep
// its slot for the life of the table.
func (t *Table[T]) Sweep(module string) []*Slot[T] {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.gen.Load()
	var retired []*Slot[T]
	keep := t.byModule[module][:0]
	for _, s := range t.byModule[module] {
		if s.pins > 0 || s.lookupIn(g) != nil {
			keep = append(keep, s)
			continue
		}
		s.retired.Store(true)
		delete(t.slots[module], s.Function)
		t.free = append(t.free, s.idx)
		retired = append(retired, s)
	}
	clear(t.byModule[module][len(keep):])
	if len(keep) == 0 {
		delete(t.byModule, module)
		delete(t.slots, module)
	} else {
		t.byModule[module] = keep
	}
	return retired
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
	idx := t.nslots
	if n := len(t.free); n > 0 {
		// A retired index is undef in the current generation (Sweep
		// retires only those) and no publish has touched it since.
		idx = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		t.nslots++
	}
	s := &Slot[T]{t: t, idx: idx, Module: module, Function: function}
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
