package rewrite

import (
	"fmt"

	"github.com/wasmhot/wasmhot/internal/wasmbin"
)

// code rewrites the code section: every body metered, every function index
// moved.
func (rw *rewriter) code(r *reader) ([]byte, error) {
	var n uint32
	if r.b != nil {
		n = r.count(2)
	}
	add, extra := rw.linkItems(secCode)
	out := make([]byte, 0, len(r.b)+len(r.b)/4+len(extra)+8)
	out = wasmbin.AppendU32(out, n+add)
	for i := uint32(0); i < n && r.err == nil; i++ {
		size := r.u32()
		b := r.bytes(size)
		if r.err != nil {
			break
		}
		body, err := rw.body(b, rw.m.paramsOf(rw.m.funcImps+i))
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", rw.m.funcImps+i, err)
		}
		out = wasmbin.AppendU32(out, uint32(len(body)))
		out = append(out, body...)
		rw.info.Functions++
	}
	r.end("code")
	return append(out, extra...), r.err
}

// paramsOf is the number of parameters of function f; 0 for a function
// the module does not declare (a malformed module, which the rewrite
// leaves for the validator to refuse).
func (m *module) paramsOf(f uint32) uint32 {
	if int(f) >= len(m.funcTypes) || int(m.funcTypes[f]) >= len(m.params) {
		return 0
	}
	return m.params[m.funcTypes[f]]
}

// point is where fuel code goes: before instruction at, charge n units,
// and with check, compare the counter with zero.
type point struct {
	at    int
	check bool
	n     int64
}

// frame is an open block, loop or if while a body is scanned.
type frame struct {
	op   byte
	dead bool // the construct began in unreachable code
	// For an if: the points charging the block that holds it and the
	// first blocks of its arms (-1: none).
	parent, then, els int
}

// body rewrites one function body; params is the function's number of
// parameters.
func (rw *rewriter) body(b []byte, params uint32) ([]byte, error) {
	r := &reader{b: b}
	locals := r.count(2)
	for i := uint32(0); i < locals && r.err == nil; i++ {
		r.u32()
		r.valType()
	}
	prologue := r.pos
	ins := rw.ins[:0]
	defer func() { rw.ins = ins[:0] }()
	for !r.done() {
		in := r.next()
		if err := rw.m.checkIndices(in); err != nil && r.err == nil {
			return nil, err
		}
		ins = append(ins, in)
	}
	if r.err != nil {
		return nil, r.err
	}
	points, err := meter(ins)
	if err != nil {
		return nil, err
	}
	frames := rw.opts.MaxFrames > 0
	out := rw.out[:0]
	var tmp uint32
	if frames {
		out, tmp = framesLocals(out, b, prologue, params)
		out = rw.framesEnter(out)
	} else {
		out = append(out, b[:prologue]...)
	}
	defer func() { rw.out = out[:0] }()
	p := 0
	depth := uint32(0) // open blocks, loops and ifs: the body's label is depth
	for i, in := range ins {
		for ; p < len(points) && points[p].at == i; p++ {
			out = rw.fuelCode(out, points[p])
		}
		if frames {
			out = rw.framesExit(out, b, in, depth, tmp)
		}
		if in.op == opMemoryGrow {
			out = rw.tickCode(out)
		}
		switch in.op {
		case opBlock, opLoop, opIf:
			depth++
		case opEnd:
			if depth > 0 {
				depth--
			}
		}
		out = rw.emit(out, b, in)
	}
	return out, nil
}

// framesExit appends, before in, the counting out of the frame when in
// may leave the function (depth open constructs around it).
func (rw *rewriter) framesExit(out, b []byte, in instr, depth, tmp uint32) []byte {
	switch in.op {
	case opReturn, opReturnCall, opReturnCallIndirect:
		return rw.framesLeave(out)
	case opEnd:
		if depth == 0 {
			return rw.framesLeave(out)
		}
	case opBr:
		if in.label == depth {
			return rw.framesLeave(out)
		}
	case opBrIf:
		if in.label == depth {
			return rw.framesBrIf(out, tmp)
		}
	case opBrTable:
		table, dflt := brTableTargets(b[in.start:in.end])
		var fn []uint32
		for k, l := range table {
			if l == depth {
				fn = append(fn, uint32(k))
			}
		}
		if len(fn) > 0 || dflt == depth {
			return rw.framesBrTable(out, tmp, uint32(len(table)), fn, dflt == depth)
		}
	}
	return out
}

// meter finds where a body's basic blocks begin and what each costs. A
// block begins at the function entry and at each loop header (both
// checked), and after if, else, br_if and the end of a block or if (charged
// only). Code after an unconditional branch is unreachable until the next
// else or end and is not charged.
//
// Two refinements keep the counts exact and the code cheaper. Exactly one
// arm of an if with an else runs, so the cheaper arm's first block is
// charged with the if (and the other's first block by the difference),
// which leaves the cheaper arm nothing to charge. A function that makes no
// call can only cycle through its loops, whose headers are checked, so its
// entry charges without a check.
func meter(ins []instr) ([]point, error) {
	calls := false
	for _, in := range ins {
		switch in.op {
		case opCall, opCallIndirect, opReturnCall, opReturnCallIndirect:
			calls = true
		}
	}
	points := []point{{at: 0, check: calls}}
	cur := 0 // the point charging the current block; -1 in unreachable code
	dead := false
	var frames []frame
	begin := func(at int, check bool) {
		points = append(points, point{at: at, check: check})
		cur = len(points) - 1
	}
	for i, in := range ins {
		if cur >= 0 {
			points[cur].n += in.cost()
		}
		switch in.op {
		case opBlock:
			frames = append(frames, frame{op: opBlock, dead: dead})
		case opLoop:
			frames = append(frames, frame{op: opLoop, dead: dead})
			if !dead {
				begin(i+1, true)
			}
		case opIf:
			f := frame{op: opIf, dead: dead, parent: cur, then: -1, els: -1}
			if !dead {
				begin(i+1, false)
				f.then = cur
			}
			frames = append(frames, f)
		case opElse:
			if len(frames) == 0 || frames[len(frames)-1].op != opIf {
				return nil, fmt.Errorf("%w: else outside if", ErrMalformed)
			}
			f := &frames[len(frames)-1]
			dead, cur = f.dead, -1
			if !dead {
				begin(i+1, false)
				f.els = cur
			}
		case opEnd:
			if len(frames) == 0 {
				if i != len(ins)-1 {
					return nil, fmt.Errorf("%w: code after the end of the body", ErrMalformed)
				}
				return points, nil
			}
			f := frames[len(frames)-1]
			frames = frames[:len(frames)-1]
			if f.op == opLoop {
				continue // only reached by falling through: the same block goes on
			}
			if f.op == opIf && f.parent >= 0 && f.then >= 0 && f.els >= 0 {
				m := min(points[f.then].n, points[f.els].n)
				points[f.parent].n += m
				points[f.then].n -= m
				points[f.els].n -= m
			}
			dead, cur = f.dead, -1
			if !dead {
				begin(i+1, false)
			}
		case opBrIf:
			if !dead {
				begin(i+1, false)
			}
		case opBr, opBrTable, opReturn, opUnreachable, opReturnCall, opReturnCallIndirect:
			dead, cur = true, -1
		}
	}
	return nil, fmt.Errorf("%w: body without end", ErrMalformed)
}

// tickCode appends an unconditional tick, before each memory.grow:
//
//	fuel = tick(fuel)
//
// The tick charges what the slice used so far and grants a new one, so
// the counts stay exact; it gives the host a check before memory grows: a
// guest its host stopped (killed, purged) must not grow the memory of an
// instance being closed under it.
func (rw *rewriter) tickCode(out []byte) []byte {
	g := rw.info.FuelIndex
	out = wasmbin.AppendU32(append(out, opGlobalGet), g)
	out = wasmbin.AppendU32(append(out, opCall), rw.info.TickIndex)
	return wasmbin.AppendU32(append(out, opGlobalSet), g)
}

// fuelCode appends the code of one point: the charge
//
//	fuel -= n
//
// and for a check
//
//	if fuel < 0 { fuel = tick(fuel) }
func (rw *rewriter) fuelCode(out []byte, p point) []byte {
	g, t := rw.info.FuelIndex, rw.info.TickIndex
	if p.n > 0 {
		out = wasmbin.AppendU32(append(out, opGlobalGet), g)
		out = wasmbin.AppendS64(append(out, opI64Const), p.n)
		out = append(out, opI64Sub)
		out = wasmbin.AppendU32(append(out, opGlobalSet), g)
	}
	if !p.check {
		if p.n > 0 {
			rw.info.Charges++
		}
		return out
	}
	rw.info.Checks++
	out = wasmbin.AppendU32(append(out, opGlobalGet), g)
	out = append(out, opI64Const, 0, opI64LtS, opIf, blockEmpty)
	out = wasmbin.AppendU32(append(out, opGlobalGet), g)
	out = wasmbin.AppendU32(append(out, opCall), t)
	out = wasmbin.AppendU32(append(out, opGlobalSet), g)
	return append(out, opEnd)
}
