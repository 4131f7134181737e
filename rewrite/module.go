package rewrite

import (
	"github.com/wasmhot/wasmhot/internal/wasmbin"

	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// order is each known section's place in a module (the tag section of
// exception handling sits between memory and global).
var order = map[byte]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secTag: 6,
	secGlobal: 7, secExport: 8, secStart: 9, secElement: 10, secDataCount: 11, secCode: 12, secData: 13,
}

var header = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

type section struct {
	id      byte
	content []byte
}

// module is what a rewrite needs to know of its input.
type module struct {
	sections []section
	types    uint32 // entries in the type section
	funcImps uint32 // imported functions
	globals  uint32 // imported and defined globals
	tables   uint32 // imported and defined tables
	elems    uint32 // element segments
	// params is the parameter count of each type; funcTypes the type of
	// each function, imported then defined; exported the function index
	// of each exported function, in export section order.
	params      []uint32
	funcTypes   []uint32
	exported    []uint32
	exportNames []string
	// imports is every imported function; external, by function index, the
	// link table entry of an external one (Options.External).
	imports  []Import
	external map[uint32]uint32
}

// checkIndices refuses an instruction that names a global, type, table or
// element segment the input does not have: after the rewrite, the next
// index would name what the rewrite injected (the fuel counter, the tick
// type, the entry table), making an invalid module valid and handing it
// the counter.
func (m *module) checkIndices(in instr) error {
	if in.table >= int64(m.tables) {
		return fmt.Errorf("%w: unknown table %d", ErrMalformed, in.table)
	}
	if in.elem >= int64(m.elems) {
		return fmt.Errorf("%w: unknown element segment %d", ErrMalformed, in.elem)
	}
	if in.global >= int64(m.globals) {
		return fmt.Errorf("%w: unknown global %d", ErrMalformed, in.global)
	}
	if in.typ >= int64(m.types) {
		return fmt.Errorf("%w: unknown type %d", ErrMalformed, in.typ)
	}
	return nil
}

// funcType reads a function's type index, refusing one the input does not
// have, and records it.
func (m *module) funcType(r *reader) {
	t := r.u32()
	if r.err == nil && t >= m.types {
		r.fail("unknown type %d", t)
	}
	m.funcTypes = append(m.funcTypes, t)
}

// items reads the item count of a section being rewritten: 0 for one the
// rewrite adds (no bytes).
func (r *reader) items() uint32 {
	if r.b == nil {
		return 0
	}
	return r.u32()
}

// end refuses bytes after the last item of a section.
func (r *reader) end(section string) {
	if r.err == nil && !r.done() {
		r.fail("trailing bytes in the %s section", section)
	}
}

// parse splits wasm into sections and counts what the rewrite shifts.
func parse(wasm []byte) (*module, error) {
	if len(wasm) < len(header) || !bytes.Equal(wasm[:len(header)], header) {
		return nil, fmt.Errorf("%w: not a Wasm 1.0 binary (bad magic or version)", ErrMalformed)
	}
	m := &module{}
	r := &reader{b: wasm, pos: len(header)}
	last := 0
	for !r.done() {
		id := r.byte()
		content := r.bytes(r.u32())
		if r.err != nil {
			return nil, r.err
		}
		if id != secCustom {
			o, ok := order[id]
			if !ok {
				return nil, fmt.Errorf("%w: unknown section %d", ErrMalformed, id)
			}
			if o <= last {
				return nil, fmt.Errorf("%w: section %d out of order", ErrMalformed, id)
			}
			last = o
		}
		m.sections = append(m.sections, section{id, content})
		if err := m.scan(id, content); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// scan reads the counts a rewrite needs from one section and checks the
// reserved names.
func (m *module) scan(id byte, content []byte) error {
	r := &reader{b: content}
	switch id {
	case secType:
		m.types = r.count(3)
		m.params = make([]uint32, 0, m.types)
		for i := uint32(0); i < m.types && r.err == nil; i++ {
			if form := r.byte(); form != 0x60 && r.err == nil {
				r.unsupported(fmt.Sprintf("type form %#x", form))
			}
			// Value types are stepped over, not checked: wazero checks
			// them where they matter, and only the counts matter here.
			n := r.count(1)
			for j := uint32(0); j < n && r.err == nil; j++ {
				r.skipValType()
			}
			m.params = append(m.params, n)
			n = r.count(1)
			for j := uint32(0); j < n && r.err == nil; j++ {
				r.skipValType()
			}
		}
		r.end("type")
	case secImport:
		n := r.count(3)
		for i := uint32(0); i < n && r.err == nil; i++ {
			mod := r.name()
			name := r.name()
			if strings.HasPrefix(mod, ReservedPrefix) && r.err == nil {
				// RuntimeModule, and whatever else a host names so: a
				// guest must not reach the host's link epoch or tables.
				return fmt.Errorf("%w: import from %q", ErrReserved, mod)
			}
			switch kind := r.byte(); kind {
			case 0x00: // func
				m.funcType(r)
				m.imports = append(m.imports, Import{mod, name})
				m.funcImps++
			case 0x01: // table
				r.refType()
				r.limits()
				m.tables++
			case 0x02: // memory
				r.limits()
			case 0x03: // global
				r.valType()
				r.byte()
				m.globals++
			case 0x04: // tag
				r.byte()
				r.u32()
			default:
				r.fail("import kind %#x", kind)
			}
		}
		r.end("import")
	case secFunction:
		n := r.count(1)
		for i := uint32(0); i < n && r.err == nil; i++ {
			m.funcType(r)
		}
		r.end("function")
	case secTable:
		m.tables += r.count(2)
		return r.err // the tables themselves are copied
	case secElement:
		m.elems = r.count(1)
		return r.err
	case secGlobal:
		n := r.count(3)
		m.globals += n
		return r.err // the globals are decoded when the section is rewritten
	case secExport:
		n := r.count(3)
		for i := uint32(0); i < n && r.err == nil; i++ {
			name := r.name()
			if strings.HasPrefix(name, ReservedPrefix) && r.err == nil {
				return fmt.Errorf("%w: export %q", ErrReserved, name)
			}
			kind, idx := r.byte(), r.u32()
			if kind == 0x00 {
				m.exported = append(m.exported, idx)
				m.exportNames = append(m.exportNames, name)
			}
		}
		r.end("export")
	}
	return r.err
}

// skipValType steps over a value type, with the heap type of a typed
// reference (0x63, 0x64).
func (r *reader) skipValType() {
	if t := r.byte(); t == 0x63 || t == 0x64 {
		r.sleb(33)
	}
}

func (r *reader) limits() {
	switch flag := r.byte(); flag {
	case 0x00:
		r.u32()
	case 0x01, 0x03: // with a maximum; 0x03: shared (threads)
		r.u32()
		r.u32()
	default:
		if r.err == nil {
			r.unsupported(fmt.Sprintf("limits flag %#x", flag))
		}
	}
}

// Rewrite returns wasm rewritten as opts ask, and what it injected. The
// input is not modified. Any input that is a valid module (for the
// features the package knows) rewrites to a valid module that computes the
// same results; other input may be refused with an error wrapping
// ErrMalformed, ErrUnsupported or ErrReserved.
func Rewrite(wasm []byte, opts Options) ([]byte, Info, error) {
	m, err := parse(wasm)
	if err != nil {
		return nil, Info{}, err
	}
	if opts.Link && !opts.Fuel {
		return nil, Info{}, errors.New("rewrite: Link needs Fuel")
	}
	if !opts.Fuel {
		return append([]byte(nil), wasm...), Info{}, nil
	}
	rw := &rewriter{m: m, opts: opts, badFn: -1, added: 1}
	out, err := rw.run()
	if err == nil && rw.badFn >= 0 {
		err = fmt.Errorf("%w: unknown function %d", ErrMalformed, rw.badFn)
	}
	if err != nil {
		return nil, Info{}, err
	}
	return out, rw.info, nil
}

// rewriter carries one rewrite.
type rewriter struct {
	m    *module
	opts Options
	info Info
	// tickType is the type index of (i64) -> (i64).
	tickType uint32
	// added is the number of imported functions the rewrite adds: tick,
	// and resolve when the module makes external calls (Link).
	added uint32
	// lk is where the link additions go (Options.Link).
	lk linkLayout
	// badFn is the first function index the input names but does not
	// have (-1: none).
	badFn int64
	// ins and out are scratch buffers of body, reused from one function
	// to the next.
	ins []instr
	out []byte
}

// fn maps a function index of the input to the output: the tick import is
// added after the imported functions, so defined functions move up one.
func (rw *rewriter) fn(i uint32) uint32 {
	if i >= uint32(len(rw.m.funcTypes)) && rw.badFn < 0 {
		rw.badFn = int64(i) // would name an injected function
	}
	return rw.shift(i)
}

// shift is fn without the check, for the name section, whose indices no
// validator checks.
func (rw *rewriter) shift(i uint32) uint32 {
	if i >= rw.m.funcImps {
		return i + rw.added
	}
	return i
}

func (rw *rewriter) run() ([]byte, error) {
	m := rw.m
	rw.tickType = m.types
	rw.info.TickIndex = m.funcImps
	rw.info.FuelIndex = m.globals
	if rw.opts.MaxFrames > 0 {
		rw.info.FramesIndex = m.globals + 1
	}
	out := append([]byte(nil), header...)
	// The sections the fuel needs may be missing: emit each at its place.
	need := map[byte]bool{secType: true, secImport: true, secGlobal: true, secExport: true}
	if rw.opts.Link {
		rw.link()
		for _, id := range []byte{secFunction, secTable, secElement, secCode} {
			need[id] = true
		}
	}
	emitMissing := func(before int) error {
		for _, id := range []byte{secType, secImport, secFunction, secTable, secGlobal, secExport, secElement, secCode} {
			if need[id] && order[id] < before {
				c, err := rw.section(id, nil)
				if err != nil {
					return err
				}
				out = wasmbin.AppendSection(out, id, c)
				need[id] = false
			}
		}
		return nil
	}
	// A missing section goes before the first section that must follow
	// it, custom sections included: a custom section after the last known
	// one (the name section, usually) stays last.
	next := make([]int, len(m.sections)) // order of the next known section
	after := len(order) + 1
	for i := len(m.sections) - 1; i >= 0; i-- {
		if id := m.sections[i].id; id != secCustom {
			after = order[id]
		}
		next[i] = after
	}
	for i, s := range m.sections {
		if err := emitMissing(next[i]); err != nil {
			return nil, err
		}
		c, err := rw.section(s.id, s.content)
		if err != nil {
			return nil, err
		}
		if c == nil {
			continue // dropped
		}
		out = wasmbin.AppendSection(out, s.id, c)
		need[s.id] = false
	}
	if err := emitMissing(len(order) + 1); err != nil {
		return nil, err
	}
	return out, nil
}

// section returns the rewritten content of one section (content nil: a
// section that was missing), or nil to drop it.
func (rw *rewriter) section(id byte, content []byte) ([]byte, error) {
	r := &reader{b: content}
	var out []byte
	switch id {
	case secType, secImport, secFunction, secTable:
		// Items appended after the input's, copied as they are.
		n := r.items()
		add, extra := rw.appended(id)
		out = wasmbin.AppendU32(nil, n+add)
		out = append(out, content[r.pos:]...)
		return append(out, extra...), r.err
	case secGlobal:
		n := r.items()
		add, extra := rw.appended(id)
		out = wasmbin.AppendU32(nil, n+add)
		for i := uint32(0); i < n && r.err == nil; i++ {
			out = append(out, r.byte(), r.byte()) // type, mutability
			out = rw.constExpr(r, out)
		}
		r.end("global")
		return append(out, extra...), r.err
	case secExport:
		n := r.items()
		add, extra := rw.appended(id)
		out = wasmbin.AppendU32(nil, n+add)
		for i := uint32(0); i < n && r.err == nil; i++ {
			out = wasmbin.AppendName(out, r.name())
			kind := r.byte()
			idx := r.u32()
			switch {
			case kind == 0x00:
				idx = rw.fn(idx)
			case kind == 0x03 && idx >= rw.m.globals && r.err == nil:
				r.fail("export of unknown global %d", idx)
			}
			out = wasmbin.AppendU32(append(out, kind), idx)
		}
		r.end("export")
		return append(out, extra...), r.err
	case secStart:
		out = wasmbin.AppendU32(nil, rw.fn(r.u32()))
		r.end("start")
		return out, r.err
	case secElement:
		return rw.elements(r)
	case secCode:
		return rw.code(r)
	case secCustom:
		return rw.custom(r)
	}
	return content, nil
}

// appended returns the items the rewrite adds at the end of a section, and
// how many.
func (rw *rewriter) appended(id byte) (uint32, []byte) {
	var n uint32
	var out []byte
	switch id {
	case secType:
		n, out = 1, append(out, 0x60, 1, 0x7e, 1, 0x7e) // tick: (i64) -> (i64)
	case secImport:
		out = wasmbin.AppendName(out, RuntimeModule)
		out = wasmbin.AppendName(out, TickFunction)
		out = append(out, 0x00)
		n, out = 1, wasmbin.AppendU32(out, rw.tickType)
		if rw.added == 2 {
			out = wasmbin.AppendName(out, RuntimeModule)
			out = wasmbin.AppendName(out, ResolveFunction)
			out = append(out, 0x00)
			n, out = 2, wasmbin.AppendU32(out, rw.lk.refType)
		}
	case secGlobal:
		out = append(out, 0x7e, 0x01, opI64Const) // mut i64
		out = wasmbin.AppendS64(out, rw.opts.InitialFuel)
		n, out = 1, append(out, opEnd)
		if rw.opts.MaxFrames > 0 {
			n, out = 2, append(out, 0x7f, 0x01, opI32Const, 0, opEnd) // frames: mut i32 0
		}
	case secExport:
		out = wasmbin.AppendName(out, FuelGlobal)
		out = append(out, 0x03)
		n, out = 1, wasmbin.AppendU32(out, rw.info.FuelIndex)
		if rw.opts.MaxFrames > 0 {
			out = wasmbin.AppendName(out, FramesGlobal)
			out = append(out, 0x03)
			n, out = 2, wasmbin.AppendU32(out, rw.info.FramesIndex)
		}
	}
	if rw.opts.Link {
		ln, lout := rw.linkItems(id)
		n, out = n+ln, append(out, lout...)
	}
	return n, out
}

// constExpr copies a constant expression, moving the functions it names.
func (rw *rewriter) constExpr(r *reader, out []byte) []byte {
	for r.err == nil {
		in := r.next()
		if err := rw.m.checkIndices(in); err != nil && r.err == nil {
			r.err = err
		}
		out = rw.emit(out, r.b, in)
		if in.op == opEnd {
			break
		}
	}
	return out
}

// emit appends one instruction, with its function index moved.
func (rw *rewriter) emit(out, body []byte, in instr) []byte {
	if !in.hasFn {
		return append(out, body[in.start:in.end]...)
	}
	if k, ok := rw.m.external[in.fn]; ok && in.op == opCall {
		return rw.linkCall(out, k)
	}
	return wasmbin.AppendU32(append(out, in.op), rw.fn(in.fn))
}

// elements copies the element section, moving function indices.
func (rw *rewriter) elements(r *reader) ([]byte, error) {
	var n uint32
	if r.b != nil {
		n = r.count(1)
	}
	add, extra := rw.linkItems(secElement)
	out := wasmbin.AppendU32(nil, n+add)
	for i := uint32(0); i < n && r.err == nil; i++ {
		flags := r.u32()
		out = wasmbin.AppendU32(out, flags)
		if flags > 7 {
			r.fail("element segment flags %d", flags)
			break
		}
		if flags&1 == 0 { // active: into a table the input must have
			t := uint32(0)
			if flags&2 != 0 { // explicit table index
				t = r.u32()
				out = wasmbin.AppendU32(out, t)
			}
			if t >= rw.m.tables && r.err == nil {
				r.fail("element segment for unknown table %d", t)
			}
		}
		if flags&1 == 0 { // active: offset
			out = rw.constExpr(r, out)
		}
		exprs := flags&4 != 0
		if flags&3 != 0 { // elemkind or reftype
			out = append(out, r.byte())
		}
		items := r.count(1)
		out = wasmbin.AppendU32(out, items)
		for j := uint32(0); j < items && r.err == nil; j++ {
			if exprs {
				out = rw.constExpr(r, out)
			} else {
				out = wasmbin.AppendU32(out, rw.fn(r.u32()))
			}
		}
	}
	r.end("element")
	return append(out, extra...), r.err
}

// custom keeps custom sections, moving the function indices of the name
// section's function and local names. Label names (which name functions
// by index in a way not worth moving) are dropped, the other subsections
// kept: the indices they use (types, tables, memories, globals, segments)
// do not move. A name section it cannot read is dropped (names only label
// stack traces).
func (rw *rewriter) custom(r *reader) ([]byte, error) {
	name := r.name()
	if r.err != nil || name != "name" {
		return r.b, nil // other custom sections are no concern of ours
	}
	out := wasmbin.AppendName(nil, name)
	for !r.done() {
		id := r.byte()
		sub := &reader{b: r.bytes(r.u32())}
		if r.err != nil {
			return nil, nil // drop a name section we cannot read
		}
		var c []byte
		switch id {
		case 0, 4, 5, 6, 7, 8, 9: // module, type, table, memory, global, elem and data names
			c = sub.b
		case 1: // function names: namemap
			n := sub.count(2)
			c = wasmbin.AppendU32(nil, n)
			for i := uint32(0); i < n && sub.err == nil; i++ {
				c = wasmbin.AppendU32(c, rw.shift(sub.u32()))
				c = wasmbin.AppendName(c, sub.name())
			}
		case 2: // local names: indirect namemap
			n := sub.count(2)
			c = wasmbin.AppendU32(nil, n)
			for i := uint32(0); i < n && sub.err == nil; i++ {
				c = wasmbin.AppendU32(c, rw.shift(sub.u32()))
				m := sub.count(2)
				c = wasmbin.AppendU32(c, m)
				for j := uint32(0); j < m && sub.err == nil; j++ {
					c = wasmbin.AppendU32(c, sub.u32())
					c = wasmbin.AppendName(c, sub.name())
				}
			}
		default:
			continue
		}
		if sub.err != nil {
			return nil, nil
		}
		out = wasmbin.AppendSection(out, id, c)
	}
	return out, nil
}
