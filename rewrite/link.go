package rewrite

// Link entry points (Options.Link).
//
// Another instance calls into this module's exported functions through
// entry points: for each exported function, a wrapper of the same type that
// adds one to the DepthGlobal counter, calls the function and subtracts
// one. The entry points sit in a table the rewrite adds, in export section
// order, and RefFunction returns the i-th as a funcref, which the host puts
// in the caller's link table. DepthGlobal is then the number of calls
// running in the instance through its entry points: how many frames of this
// instance a process has on its stack, from external calls. A trap does not
// unwind the count, but a trap ends the caller, and with it the instances
// it linked.

// linkLayout is where the link additions sit in the output.
type linkLayout struct {
	refType uint32 // type index of (i32) -> (funcref)
	first   uint32 // function index of the first entry point
	ref     uint32 // function index of RefFunction
	table   uint32 // table index of the entry table
	depth   uint32 // global index of the depth counter
}

// link lays out the link additions.
func (rw *rewriter) link() {
	m := rw.m
	for _, f := range m.exported {
		if f >= uint32(len(m.funcTypes)) {
			rw.badFn = int64(f) // the output is refused; add nothing
			m.exported = nil
			break
		}
	}
	defined := uint32(len(m.funcTypes)) - m.funcImps
	rw.lk = linkLayout{
		refType: m.types + 1,
		first:   m.funcImps + 1 + defined,
		table:   m.tables,
		depth:   m.globals + 1,
	}
	rw.lk.ref = rw.lk.first + uint32(len(m.exported))
	rw.info.Entries = m.exportNames[:len(m.exported)]
}

// linkItems returns the link additions to the end of one section, and how
// many items they are.
func (rw *rewriter) linkItems(id byte) (uint32, []byte) {
	if !rw.opts.Link {
		return 0, nil
	}
	m, lk := rw.m, rw.lk
	n := uint32(len(m.exported))
	var out []byte
	switch id {
	case secType:
		return 1, []byte{0x60, 1, 0x7f, 1, 0x70} // (i32) -> (funcref)
	case secFunction:
		for _, f := range m.exported {
			out = appendU32(out, m.funcTypes[f])
		}
		return n + 1, appendU32(out, lk.refType)
	case secTable:
		return 1, appendU32([]byte{0x70, 0x00}, n) // funcref, min n
	case secGlobal:
		return 1, []byte{0x7f, 0x01, opI32Const, 0, opEnd} // mut i32 0
	case secExport:
		out = appendName(out, RefFunction)
		out = appendU32(append(out, 0x00), lk.ref)
		out = appendName(out, DepthGlobal)
		return 2, appendU32(append(out, 0x03), lk.depth)
	case secElement:
		out = appendU32(append(out, 0x02), lk.table)  // active, explicit table
		out = append(out, opI32Const, 0, opEnd, 0x00) // offset 0, elemkind funcref
		out = appendU32(out, n)
		for j := uint32(0); j < n; j++ {
			out = appendU32(out, lk.first+j)
		}
		return 1, out
	case secCode:
		for _, f := range m.exported {
			out = appendBody(out, rw.entry(f))
		}
		ref := []byte{0x00, 0x20, 0x00, 0x25} // no locals; local.get 0; table.get
		ref = appendU32(ref, lk.table)
		return n + 1, appendBody(out, append(ref, opEnd))
	}
	return 0, nil
}

// entry is the body of the entry point of function f.
func (rw *rewriter) entry(f uint32) []byte {
	const opI32Add, opI32Sub, opLocalGet = 0x6a, 0x6b, 0x20
	d := rw.lk.depth
	b := []byte{0x00} // no locals
	count := func(b []byte, op byte) []byte {
		b = appendU32(append(b, opGlobalGet), d)
		b = append(b, opI32Const, 1, op)
		return appendU32(append(b, opGlobalSet), d)
	}
	b = count(b, opI32Add)
	for i := uint32(0); i < rw.m.params[rw.m.funcTypes[f]]; i++ {
		b = appendU32(append(b, opLocalGet), i)
	}
	b = appendU32(append(b, opCall), rw.fn(f))
	b = count(b, opI32Sub)
	return append(b, opEnd)
}

func appendBody(out, body []byte) []byte {
	return append(appendU32(out, uint32(len(body))), body...)
}
