// Package wasmbin appends the pieces of the WebAssembly binary format that
// wasmhot writes: LEB128 integers, names, sections and function types. The
// rewriter (package rewrite) and the host's generated modules (link and
// stub modules) both encode with it.
package wasmbin

// AppendU32 appends v as an unsigned LEB128.
func AppendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// AppendS64 appends v as a signed LEB128 (an i32 or i64 immediate).
func AppendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// AppendName appends a name: its length, then its bytes.
func AppendName(b []byte, s string) []byte {
	return append(AppendU32(b, uint32(len(s))), s...)
}

// AppendSection appends a section: its id, its size, its content.
func AppendSection(b []byte, id byte, content []byte) []byte {
	return append(AppendU32(append(b, id), uint32(len(content))), content...)
}

// Vec encodes items as a vector: their count, then each in turn.
func Vec(items [][]byte) []byte {
	b := AppendU32(nil, uint32(len(items)))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

// FuncType encodes a function type (value types are single bytes).
func FuncType(params, results []byte) []byte {
	b := AppendU32([]byte{0x60}, uint32(len(params)))
	b = append(b, params...)
	b = AppendU32(b, uint32(len(results)))
	return append(b, results...)
}
