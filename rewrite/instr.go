package rewrite

import "fmt"

// Opcodes the rewriter looks at; the rest it only steps over.
const (
	opUnreachable        = 0x00
	opNop                = 0x01
	opBlock              = 0x02
	opLoop               = 0x03
	opIf                 = 0x04
	opElse               = 0x05
	opEnd                = 0x0b
	opBr                 = 0x0c
	opBrIf               = 0x0d
	opBrTable            = 0x0e
	opReturn             = 0x0f
	opCall               = 0x10
	opCallIndirect       = 0x11
	opReturnCall         = 0x12
	opReturnCallIndirect = 0x13
	opGlobalGet          = 0x23
	opGlobalSet          = 0x24
	opI32Const           = 0x41
	opI64Const           = 0x42
	opI64Ne              = 0x52
	opI64LtS             = 0x53
	opI64Sub             = 0x7d
	opRefFunc            = 0xd2
	opMemoryGrow         = 0x40
	opPrefixMisc         = 0xfc
	opPrefixSIMD         = 0xfd
	opPrefixAtomic       = 0xfe
	miscTableInit        = 12

	blockEmpty = 0x40
)

// instr is one decoded instruction: where it lies, its opcode, the
// function index it names (call, return_call, ref.func), if any, and the
// global and type indices it names, which the rewrite checks: an index
// one past the input's last global or type would name what the rewrite
// adds.
type instr struct {
	start, end int
	op         byte
	fn         uint32
	hasFn      bool
	global     int64  // -1: none
	typ        int64  // -1: none
	table      int64  // the highest table index it names; -1: none
	elem       int64  // -1: none
	label      uint32 // br, br_if: the label
}

// cost is the instruction's fuel cost: structural markers compile to no
// machine code and cost nothing.
func (in instr) cost() int64 {
	switch in.op {
	case opBlock, opLoop, opElse, opEnd, opNop:
		return 0
	}
	return 1
}

// next decodes the instruction at the cursor.
func (r *reader) next() instr {
	in := instr{start: r.pos, global: -1, typ: -1, table: -1, elem: -1}
	in.op = r.byte()
	switch op := in.op; {
	case op == opUnreachable, op == opNop, op == opElse, op == opEnd, op == opReturn,
		op == 0x1a, op == 0x1b, // drop, select
		op >= 0x45 && op <= 0xc4, // numeric, sign extension
		op == 0xd1:               // ref.is_null
	case op == opBlock, op == opLoop, op == opIf:
		in.typ = r.blockType()
	case op == opGlobalGet, op == opGlobalSet:
		in.global = int64(r.u32())
	case op == opBr, op == opBrIf:
		in.label = r.u32()
	case op >= 0x20 && op <= 0x22: // local.*
		r.u32()
	case op == 0x25, op == 0x26: // table.get, table.set
		in.table = int64(r.u32())
	case op == opBrTable:
		n := r.count(1)
		for i := uint32(0); i <= n && r.err == nil; i++ {
			r.u32()
		}
	case op == opCall, op == opReturnCall, op == opRefFunc:
		in.fn, in.hasFn = r.u32(), true
	case op == opCallIndirect, op == opReturnCallIndirect:
		in.typ = int64(r.u32())
		in.table = int64(r.u32())
	case op == 0x1c: // select t*
		n := r.count(1)
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.valType()
		}
	case op >= 0x28 && op <= 0x3e: // loads and stores
		r.memarg()
	case op == 0x3f, op == 0x40: // memory.size, memory.grow
		r.zero()
	case op == opI32Const:
		r.sleb(32)
	case op == opI64Const:
		r.sleb(64)
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op == 0xd0: // ref.null t
		r.refType()
	case op == opPrefixMisc:
		in.table, in.elem = r.misc()
	case op == opPrefixSIMD:
		r.simd()
	case op == opPrefixAtomic:
		r.atomic()
	default:
		r.unsupported(fmt.Sprintf("opcode %#x", op))
	}
	in.end = r.pos
	return in
}

func (r *reader) unsupported(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d", ErrUnsupported, what, r.pos)
	}
	r.pos = len(r.b)
}

// blockType reads a block type and returns its type index, or -1.
func (r *reader) blockType() int64 {
	if r.pos < len(r.b) {
		switch r.b[r.pos] {
		case blockEmpty, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
			r.pos++
			return -1
		}
	}
	t := r.sleb(33)
	if r.err == nil && t < 0 {
		r.unsupported(fmt.Sprintf("block type %d", t))
	}
	return t
}

func (r *reader) valType() {
	switch t := r.byte(); t {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
	default:
		if r.err == nil {
			r.unsupported(fmt.Sprintf("value type %#x", t))
		}
	}
}

func (r *reader) refType() {
	switch t := r.byte(); t {
	case 0x70, 0x6f:
	default:
		if r.err == nil {
			r.unsupported(fmt.Sprintf("reference type %#x", t))
		}
	}
}

func (r *reader) memarg() {
	if align := r.u32(); align >= 64 && r.err == nil {
		r.unsupported("memory index in memarg (multiple memories)")
	}
	r.uleb(64) // offset: 32 bits for memory32, checked by the validator
}

// zero reads a memory index, which must be 0 (one memory).
func (r *reader) zero() {
	if r.byte() != 0 && r.err == nil {
		r.unsupported("memory index other than 0")
	}
}

// misc steps over the 0xfc instructions (saturating truncation, bulk
// memory, table instructions) and returns the highest table index and the
// element segment they name (-1: none).
func (r *reader) misc() (table, elem int64) {
	table, elem = -1, -1
	switch sub := r.u32(); {
	case sub <= 7: // trunc_sat
	case sub == 8: // memory.init data mem
		r.u32()
		r.zero()
	case sub == 9: // data.drop
		r.u32()
	case sub == 13: // elem.drop
		elem = int64(r.u32())
	case sub >= 15 && sub <= 17: // table.grow/size/fill
		table = int64(r.u32())
	case sub == 10: // memory.copy
		r.zero()
		r.zero()
	case sub == 11: // memory.fill
		r.zero()
	case sub == 12: // table.init elem table
		elem = int64(r.u32())
		table = int64(r.u32())
	case sub == 14: // table.copy dst src
		table = max(int64(r.u32()), int64(r.u32()))
	default:
		if r.err == nil {
			r.unsupported(fmt.Sprintf("opcode 0xfc %d", sub))
		}
	}
	return table, elem
}

// simd steps over the 0xfd instructions (fixed-width SIMD).
func (r *reader) simd() {
	switch sub := r.u32(); {
	case sub <= 11, sub == 92, sub == 93: // loads, store, load zero
		r.memarg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // extract/replace lane
		r.byte()
	case sub >= 84 && sub <= 91: // load/store lane
		r.memarg()
		r.byte()
	case sub <= 255:
		if r.err == nil && !simdNoImmediate(sub) {
			r.unsupported(fmt.Sprintf("opcode 0xfd %d", sub))
		}
	default:
		if r.err == nil {
			r.unsupported(fmt.Sprintf("opcode 0xfd %d", sub))
		}
	}
}

// simdNoImmediate reports whether sub is an assigned SIMD opcode without
// immediates (the holes in the numbering are refused).
func simdNoImmediate(sub uint32) bool {
	switch sub {
	case 154, 162, 165, 166, 175, 176, 178, 179, 180, 187, 194, 197, 198, 207, 208, 210, 211, 212, 226, 238:
		return false
	}
	return sub >= 14 && sub <= 255 && !(sub >= 21 && sub <= 34) && !(sub >= 84 && sub <= 93)
}

// atomic steps over the 0xfe instructions (threads).
func (r *reader) atomic() {
	switch sub := r.u32(); {
	case sub <= 2, sub >= 0x10 && sub <= 0x4e:
		r.memarg()
	case sub == 3: // atomic.fence
		r.zero()
	default:
		if r.err == nil {
			r.unsupported(fmt.Sprintf("opcode 0xfe %d", sub))
		}
	}
}
