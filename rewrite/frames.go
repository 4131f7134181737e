package rewrite

import "github.com/wasmhot/wasmhot/internal/wasmbin"

// The frame bound (Options.MaxFrames).
//
// wazero grows a call stack until it holds 400 MB, so one guest recursing
// without end would make the host allocate (and copy, as the stack grows)
// that much for each of its calls. With the bound, every function counts
// itself in the frame counter on entry, traps past MaxFrames, and counts
// itself out on each way out:
//
//	entry:           frames += 1; if frames > MaxFrames { unreachable }
//	return, the body's end, br to the body's label, return_call*:
//	                 frames -= 1
//	br_if to it:     frames -= (cond != 0)
//	br_table:        frames -= (the target taken is the body's label)
//
// The conditional branches keep their operand in a local the rewrite adds
// (tmp). A trap unwinds without counting out; it ends the caller, which
// does not run the instance again.

const (
	opLocalGet = 0x20
	opLocalSet = 0x21
	opI32Eqz   = 0x45
	opI32Eq    = 0x46
	opI32GtU   = 0x4b
	opI32GeU   = 0x4f
	opI32Add   = 0x6a
	opI32Sub   = 0x6b
	opI32Or    = 0x72
)

// framesLocals rewrites a body's local declarations (b[:prologue]) with
// one more i32 local, and returns its index.
func framesLocals(out []byte, b []byte, prologue int, params uint32) ([]byte, uint32) {
	r := &reader{b: b[:prologue]}
	n := r.u32()
	entries := r.pos
	tmp := params
	for i := uint32(0); i < n && r.err == nil; i++ {
		tmp += r.u32()
		r.valType()
	}
	out = wasmbin.AppendU32(out, n+1)
	out = append(out, b[entries:prologue]...)
	return append(out, 1, 0x7f), tmp
}

// framesEnter is the entry's count and check.
func (rw *rewriter) framesEnter(out []byte) []byte {
	g := rw.info.FramesIndex
	out = wasmbin.AppendU32(append(out, opGlobalGet), g)
	out = append(out, opI32Const, 1, opI32Add)
	out = wasmbin.AppendU32(append(out, opGlobalSet), g)
	out = wasmbin.AppendU32(append(out, opGlobalGet), g)
	out = wasmbin.AppendS64(append(out, opI32Const), int64(rw.opts.MaxFrames))
	return append(out, opI32GtU, opIf, blockEmpty, opUnreachable, opEnd)
}

// framesLeave counts one frame out.
func (rw *rewriter) framesLeave(out []byte) []byte {
	g := rw.info.FramesIndex
	out = wasmbin.AppendU32(append(out, opGlobalGet), g)
	out = append(out, opI32Const, 1, opI32Sub)
	return wasmbin.AppendU32(append(out, opGlobalSet), g)
}

// framesBrIf is a br_if to the body's label: the frame is counted out
// when the branch is taken.
func (rw *rewriter) framesBrIf(out []byte, tmp uint32) []byte {
	g := rw.info.FramesIndex
	out = wasmbin.AppendU32(append(out, opLocalSet), tmp)
	out = wasmbin.AppendU32(append(out, opGlobalGet), g)
	out = wasmbin.AppendU32(append(out, opLocalGet), tmp)
	out = append(out, opI32Eqz, opI32Eqz, opI32Sub)
	out = wasmbin.AppendU32(append(out, opGlobalSet), g)
	return wasmbin.AppendU32(append(out, opLocalGet), tmp)
}

// framesBrTable is a br_table some of whose targets (fn: their indexes in
// the table; dflt: the default) are the body's label: the frame is
// counted out when the index selects one of them.
func (rw *rewriter) framesBrTable(out []byte, tmp uint32, n uint32, fn []uint32, dflt bool) []byte {
	g := rw.info.FramesIndex
	out = wasmbin.AppendU32(append(out, opLocalSet), tmp)
	out = wasmbin.AppendU32(append(out, opGlobalGet), g)
	out = append(out, opI32Const, 0)
	for _, k := range fn {
		out = wasmbin.AppendU32(append(out, opLocalGet), tmp)
		out = wasmbin.AppendS64(append(out, opI32Const), int64(int32(k)))
		out = append(out, opI32Eq, opI32Or)
	}
	if dflt {
		out = wasmbin.AppendU32(append(out, opLocalGet), tmp)
		out = wasmbin.AppendS64(append(out, opI32Const), int64(int32(n)))
		out = append(out, opI32GeU, opI32Or)
	}
	out = append(out, opI32Sub)
	out = wasmbin.AppendU32(append(out, opGlobalSet), g)
	return wasmbin.AppendU32(append(out, opLocalGet), tmp)
}

// brTableTargets decodes a br_table's labels: the table, then the default.
func brTableTargets(code []byte) (table []uint32, dflt uint32) {
	r := &reader{b: code, pos: 1}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		table = append(table, r.u32())
	}
	return table, r.u32()
}
