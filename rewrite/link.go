package rewrite

import "github.com/wasmhot/wasmhot/internal/wasmbin"

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
	lazy    uint32 // function index of the first lazy resolver
	resolve uint32 // function index of the resolve import
	table   uint32 // table index of the entry table
	links   uint32 // table index of the link table
	lazySeg uint32 // element segment of the lazy resolvers
	depth   uint32 // global index of the depth counter
	epoch   uint32 // global index of the epoch; seen is the next
	// ext is, by link table entry, the function index of the import.
	ext []uint32
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
	m.external = map[uint32]uint32{}
	var ext []uint32
	if rw.opts.External != nil {
		for i, imp := range m.imports {
			if rw.opts.External(imp.Module) {
				m.external[uint32(i)] = uint32(len(ext))
				ext = append(ext, uint32(i))
				rw.info.Imports = append(rw.info.Imports, imp)
			}
		}
	}
	if len(ext) > 0 {
		rw.added = 2 // resolve
	}
	defined := uint32(len(m.funcTypes)) - m.funcImps
	globals := m.globals // the fuel counter, then the frame counter
	if rw.opts.MaxFrames > 0 {
		globals++
	}
	rw.lk = linkLayout{
		refType: m.types + 1,
		first:   m.funcImps + rw.added + defined,
		resolve: m.funcImps + 1,
		table:   m.tables,
		links:   m.tables + 1,
		lazySeg: m.elems + 1,
		depth:   globals + 1,
		epoch:   globals + 2,
		ext:     ext,
	}
	rw.lk.ref = rw.lk.first + uint32(len(m.exported))
	rw.lk.lazy = rw.lk.ref + 1
	rw.info.Entries = m.exportNames[:len(m.exported)]
}

// linkCall is a direct call of external import k compiled into the module:
//
//	if epoch != seen { table.init links 0..n from the lazy resolvers; seen = epoch }
//	call_indirect links[k]
//
// The arguments stay on the stack below the check.
func (rw *rewriter) linkCall(out []byte, k uint32) []byte {
	lk := rw.lk
	out = wasmbin.AppendU32(append(out, opGlobalGet), lk.epoch)
	out = wasmbin.AppendU32(append(out, opGlobalGet), lk.epoch+1)
	out = append(out, opI64Ne, opIf, blockEmpty, opI32Const, 0, opI32Const, 0, opI32Const)
	out = wasmbin.AppendS64(out, int64(len(lk.ext)))
	out = wasmbin.AppendU32(append(out, opPrefixMisc, miscTableInit), lk.lazySeg)
	out = wasmbin.AppendU32(out, lk.links)
	out = wasmbin.AppendU32(append(out, opGlobalGet), lk.epoch)
	out = wasmbin.AppendU32(append(out, opGlobalSet), lk.epoch+1)
	out = append(out, opEnd, opI32Const)
	out = wasmbin.AppendS64(out, int64(k))
	out = wasmbin.AppendU32(append(out, opCallIndirect), rw.m.funcTypes[lk.ext[k]])
	return wasmbin.AppendU32(out, lk.links)
}

// lazy is the body of the lazy resolver of link table entry k: it fills
// the entry with resolve(k) and calls through it.
func (rw *rewriter) lazy(k uint32) []byte {
	const opLocalGet, opTableSet = 0x20, 0x26
	lk := rw.lk
	f := lk.ext[k]
	b := []byte{0x00, opI32Const} // no locals
	b = wasmbin.AppendS64(b, int64(k))
	b = wasmbin.AppendS64(append(b, opI32Const), int64(k))
	b = wasmbin.AppendU32(append(b, opCall), lk.resolve)
	b = wasmbin.AppendU32(append(b, opTableSet), lk.links)
	for i := uint32(0); i < rw.m.params[rw.m.funcTypes[f]]; i++ {
		b = wasmbin.AppendU32(append(b, opLocalGet), i)
	}
	b = wasmbin.AppendS64(append(b, opI32Const), int64(k))
	b = wasmbin.AppendU32(append(b, opCallIndirect), rw.m.funcTypes[f])
	b = wasmbin.AppendU32(b, lk.links)
	return append(b, opEnd)
}

// linkItems returns the link additions to the end of one section, and how
// many items they are.
func (rw *rewriter) linkItems(id byte) (uint32, []byte) {
	if !rw.opts.Link {
		return 0, nil
	}
	m, lk := rw.m, rw.lk
	n, ext := uint32(len(m.exported)), uint32(len(lk.ext))
	var out []byte
	switch id {
	case secType:
		return 1, []byte{0x60, 1, 0x7f, 1, 0x70} // (i32) -> (funcref)
	case secFunction:
		for _, f := range m.exported {
			out = wasmbin.AppendU32(out, m.funcTypes[f])
		}
		out = wasmbin.AppendU32(out, lk.refType)
		for _, f := range lk.ext {
			out = wasmbin.AppendU32(out, m.funcTypes[f])
		}
		return n + 1 + ext, out
	case secTable:
		out = wasmbin.AppendU32([]byte{0x70, 0x00}, n)            // entries: funcref, min n
		return 2, wasmbin.AppendU32(append(out, 0x70, 0x00), ext) // links: funcref, min ext
	case secGlobal:
		return 3, []byte{
			0x7f, 0x01, opI32Const, 0, opEnd, // depth: mut i32 0
			0x7e, 0x01, opI64Const, 0, opEnd, // epoch: mut i64 0
			0x7e, 0x01, opI64Const, 0x7f, opEnd, // seen: mut i64 -1
		}
	case secExport:
		out = wasmbin.AppendName(out, RefFunction)
		out = wasmbin.AppendU32(append(out, 0x00), lk.ref)
		out = wasmbin.AppendName(out, DepthGlobal)
		out = wasmbin.AppendU32(append(out, 0x03), lk.depth)
		out = wasmbin.AppendName(out, EpochGlobal)
		out = wasmbin.AppendU32(append(out, 0x03), lk.epoch)
		out = wasmbin.AppendName(out, SeenGlobal)
		return 4, wasmbin.AppendU32(append(out, 0x03), lk.epoch+1)
	case secElement:
		out = wasmbin.AppendU32(append(out, 0x02), lk.table) // active, explicit table
		out = append(out, opI32Const, 0, opEnd, 0x00)        // offset 0, elemkind funcref
		out = wasmbin.AppendU32(out, n)
		for j := uint32(0); j < n; j++ {
			out = wasmbin.AppendU32(out, lk.first+j)
		}
		out = append(out, 0x01, 0x00) // passive, elemkind funcref
		out = wasmbin.AppendU32(out, ext)
		for k := uint32(0); k < ext; k++ {
			out = wasmbin.AppendU32(out, lk.lazy+k)
		}
		return 2, out
	case secCode:
		for _, f := range m.exported {
			out = appendBody(out, rw.entry(f))
		}
		ref := []byte{0x00, 0x20, 0x00, 0x25} // no locals; local.get 0; table.get
		ref = wasmbin.AppendU32(ref, lk.table)
		out = appendBody(out, append(ref, opEnd))
		for k := uint32(0); k < ext; k++ {
			out = appendBody(out, rw.lazy(k))
		}
		return n + 1 + ext, out
	}
	return 0, nil
}

// entry is the body of the entry point of function f.
func (rw *rewriter) entry(f uint32) []byte {
	const opI32Add, opI32Sub, opLocalGet = 0x6a, 0x6b, 0x20
	d := rw.lk.depth
	b := []byte{0x00} // no locals
	count := func(b []byte, op byte) []byte {
		b = wasmbin.AppendU32(append(b, opGlobalGet), d)
		b = append(b, opI32Const, 1, op)
		return wasmbin.AppendU32(append(b, opGlobalSet), d)
	}
	b = count(b, opI32Add)
	for i := uint32(0); i < rw.m.params[rw.m.funcTypes[f]]; i++ {
		b = wasmbin.AppendU32(append(b, opLocalGet), i)
	}
	b = wasmbin.AppendU32(append(b, opCall), rw.fn(f))
	b = count(b, opI32Sub)
	return append(b, opEnd)
}

func appendBody(out, body []byte) []byte {
	return append(wasmbin.AppendU32(out, uint32(len(body))), body...)
}
