package rewrite_test

import (
	"github.com/wasmhot/wasmhot/internal/wasmbin"

	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmhot/wasmhot/rewrite"
)

// specSeedStride picks every n-th spec suite module as a fuzz seed.
const specSeedStride = 20

// FuzzRewrite checks that Rewrite never panics, and that for any module
// wazero accepts (core features 2.0) it succeeds (unless the module uses
// a reserved name) with output wazero accepts too, the same output every
// time, and output that Rewrite itself refuses as already rewritten.
func FuzzRewrite(f *testing.F) {
	examples, err := filepath.Glob(filepath.Join("..", "guest-examples", "wasm", "*.wasm"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range examples {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	if root, err := wazeroModuleRoot(); err == nil {
		var spec []string
		for _, d := range specSuiteDirs {
			m, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(d.rel), "*.wasm"))
			spec = append(spec, m...)
		}
		sort.Strings(spec)
		for i := 0; i < len(spec); i += specSeedStride {
			b, err := os.ReadFile(spec[i])
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	} else {
		f.Logf("no spec suite seeds: %v", err)
	}
	for _, b := range fuzzHandMadeSeeds() {
		f.Add(b)
	}

	ctx := context.Background()
	// The interpreter validates exactly as the compiler does, faster.
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(api.CoreFeaturesV2))
	f.Cleanup(func() { rt.Close(ctx) })
	compiles := func(wasm []byte) (err error) {
		if !fuzzWazeroCanDecode(wasm) {
			return errors.New("a vector is longer than its section: malformed")
		}
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("wazero panicked: %v", p)
			}
		}()
		cm, err := rt.CompileModule(ctx, wasm)
		if err == nil {
			cm.Close(ctx)
		}
		return err
	}
	// Every import is taken for another guest module: each call of one is
	// compiled into a link-table call.
	opts := rewrite.Options{Fuel: true, Link: true, InitialFuel: 1000, MaxFrames: 1000, External: func(string) bool { return true }}

	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, _, rwErr := rewrite.Rewrite(wasm, opts) // a panic fails the target
		if err := compiles(wasm); err != nil {
			return // wazero rejects the input: any error from Rewrite is fine
		}
		if rwErr != nil {
			if errors.Is(rwErr, rewrite.ErrReserved) || fuzzWazeroLenient(wasm, rwErr) {
				return
			}
			t.Fatalf("wazero accepts the module but Rewrite fails: %v", rwErr)
		}
		if err := compiles(out); err != nil {
			if fuzzIrregularNames(wasm) {
				return
			}
			t.Fatalf("the rewritten module does not compile: %v", err)
		}
		again, _, err := rewrite.Rewrite(wasm, opts)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("Rewrite is not deterministic (second run: %d bytes, error %v; first: %d bytes)", len(again), err, len(out))
		}
		if _, _, err := rewrite.Rewrite(out, opts); !errors.Is(err, rewrite.ErrReserved) {
			t.Fatalf("rewriting the output again: error %v, want %v", err, rewrite.ErrReserved)
		}
	})
}

// fuzzHandMadeSeeds are small modules, valid and not, that exercise control
// flow the rewriter instruments, plus broken and reserved-name inputs.
func fuzzHandMadeSeeds() [][]byte {
	const i32 = 0x7f
	loop := fuzzSeedModule([]byte{i32}, []byte{i32}, []byte{
		0x01, 0x01, i32, // one local i32
		0x03, 0x40, // loop
		0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, // local.get 0; i32.const 1; i32.sub; local.tee 0
		0x0d, 0x00, // br_if 0
		0x0b,       // end
		0x20, 0x00, // local.get 0
		0x0b,
	})
	ifElse := fuzzSeedModule([]byte{i32}, []byte{i32}, []byte{
		0x00,
		0x20, 0x00, 0x04, i32, // local.get 0; if (result i32)
		0x41, 0x01, // i32.const 1
		0x05,                                    // else
		0x02, i32, 0x41, 0x02, 0x0c, 0x00, 0x0b, // block (result i32) i32.const 2 br 0 end
		0x0b, 0x0b,
	})
	brTable := fuzzSeedModule([]byte{i32}, []byte{i32}, []byte{
		0x00,
		0x02, 0x40, 0x02, 0x40, // block block
		0x20, 0x00, 0x0e, 0x01, 0x00, 0x01, // local.get 0; br_table 0 1
		0x0b,
		0x41, 0x07, 0x0f, // i32.const 7; return
		0x0b,
		0x41, 0x09, // i32.const 9
		0x0b,
	})
	unreachable := fuzzSeedModule(nil, nil, []byte{0x00, 0x00, 0x0b})
	reserved := append([]byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00},
		0x01, 0x06, 0x01, 0x60, 0x01, 0x7e, 0x01, 0x7e, // type (i64) -> i64
		0x02, 0x13, 0x01, // import section, one import
		0x0a, 'w', 'a', 's', 'm', 'h', 'o', 't', ':', 'r', 't',
		0x04, 't', 'i', 'c', 'k', 0x00, 0x00)
	return [][]byte{
		{},
		{0x00, 'a', 's', 'm'},
		{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00},
		{0x00, 'a', 's', 'm', 0x02, 0x00, 0x00, 0x00},
		loop,
		loop[:len(loop)-3],
		ifElse,
		brTable,
		unreachable,
		reserved,
	}
}

// fuzzSeedModule encodes a module with one exported function "f" of the given
// params and results whose body (locals and code) is body.
func fuzzSeedModule(params, results, body []byte) []byte {
	b := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	section := func(id byte, payload []byte) {
		b = append(b, id)
		b = wasmbin.AppendU32(b, uint32(len(payload)))
		b = append(b, payload...)
	}
	typ := []byte{0x01, 0x60}
	typ = wasmbin.AppendU32(typ, uint32(len(params)))
	typ = append(typ, params...)
	typ = wasmbin.AppendU32(typ, uint32(len(results)))
	typ = append(typ, results...)
	section(1, typ)
	section(3, []byte{0x01, 0x00})
	section(7, []byte{0x01, 0x01, 'f', 0x00, 0x00})
	code := []byte{0x01}
	code = wasmbin.AppendU32(code, uint32(len(body)))
	code = append(code, body...)
	section(10, code)
	return b
}

// fuzzWazeroCanDecode reports whether wazero can be trusted to decode the
// bytes without allocating for absurd lengths: wazero sizes its slices and
// names by the lengths it reads before it reads the elements, so a length
// of 2^31 in a 20-byte input makes it allocate gigabytes, and the fuzzing
// process dies or stalls. It returns false only for modules no engine may
// accept, where some vector or name is longer than the bytes left to hold
// it (or there are more locals than wazero can hold), or that are
// truncated within a section.
func fuzzWazeroCanDecode(wasm []byte) bool {
	if len(wasm) < 8 {
		return true
	}
	r := &fuzzReader{b: wasm[8:], ok: true}
	for r.ok && len(r.b) > 0 {
		id := r.byte()
		size := r.u32()
		if !r.ok || uint64(size) > uint64(len(r.b)) {
			return false
		}
		sec := &fuzzReader{b: r.b[:size], ok: true}
		r.b = r.b[size:]
		switch id {
		case 0:
			if name := sec.name(); sec.ok && name == "name" {
				sec.nameSection()
			}
		case 1: // types: func types of value types (one byte each in 2.0)
			for n := sec.vec(); sec.ok && n > 0; n-- {
				sec.byte()
				sec.skip(uint64(sec.vec()))
				sec.skip(uint64(sec.vec()))
			}
		case 2: // imports: names, then what is imported
			for n := sec.vec(); sec.ok && n > 0; n-- {
				sec.name()
				sec.name()
				switch sec.byte() {
				case 0x00:
					sec.u32()
				case 0x01:
					if b := sec.byte(); b == 0x63 || b == 0x64 {
						sec.sleb()
					}
					sec.limits()
				case 0x02:
					sec.limits()
				case 0x03:
					if b := sec.byte(); b == 0x63 || b == 0x64 {
						sec.sleb()
					}
					sec.byte()
				case 0x04:
					sec.byte()
					sec.u32()
				default:
					sec.ok = false
				}
			}
		case 7: // exports
			for n := sec.vec(); sec.ok && n > 0; n-- {
				sec.name()
				sec.byte()
				sec.u32()
			}
		case 3, 4, 5, 6, 13:
			sec.vec()
		case 9:
			sec.elementSection()
		case 10:
			sec.codeSection()
		case 11:
			sec.dataSection()
		}
		if !sec.ok {
			return false
		}
	}
	return r.ok
}

// fuzzWazeroLenient reports whether the module may have a defect that
// wazero 1.12 lets through with core features 2.0 and Rewrite rightly
// refuses: a table whose reference type is not funcref or externref, a
// local of a typed reference type, or (as far as the bytes tell) any other
// use of the typed reference encodings 0x63 and 0x64 of the function
// references proposal, which wazero decodes in block types, select and
// more without checking that the proposal is enabled.
func fuzzWazeroLenient(wasm []byte, rwErr error) bool {
	if len(wasm) < 8 {
		return false
	}
	if errors.Is(rwErr, rewrite.ErrUnsupported) && bytes.ContainsAny(wasm, "\x63\x64") {
		return true
	}
	badRef := func(b byte) bool { return b != 0x70 && b != 0x6f }
	badVal := func(b byte) bool { return (b < 0x7b || b > 0x7f) && badRef(b) }
	r := &fuzzReader{b: wasm[8:], ok: true}
	for r.ok && len(r.b) > 0 {
		id := r.byte()
		size := r.vec()
		if !r.ok {
			return false
		}
		sec := &fuzzReader{b: r.b[:size], ok: true}
		r.b = r.b[size:]
		switch id {
		case 2:
			for n := sec.vec(); sec.ok && n > 0; n-- {
				sec.name()
				sec.name()
				switch sec.byte() {
				case 0x00:
					sec.u32()
				case 0x01:
					if badRef(sec.byte()) && sec.ok {
						return true
					}
					sec.limits()
				case 0x02:
					sec.limits()
				case 0x03:
					sec.skip(2)
				default:
					return false
				}
			}
		case 4:
			for n := sec.vec(); sec.ok && n > 0; n-- {
				b := sec.byte()
				init := b == 0x40
				if init {
					sec.byte()
					b = sec.byte()
				}
				if badRef(b) && sec.ok {
					return true
				}
				sec.limits()
				if init {
					sec.expr()
				}
			}
		case 10:
			for n := sec.vec(); sec.ok && n > 0; n-- {
				size := sec.vec()
				if !sec.ok {
					return false
				}
				body := &fuzzReader{b: sec.b[:size], ok: true}
				sec.b = sec.b[size:]
				for m := body.vec(); body.ok && m > 0; m-- {
					body.u32()
					if badVal(body.byte()) && body.ok {
						return true
					}
				}
			}
		}
	}
	return false
}

// fuzzIrregularNames reports whether the module's name section has a
// module, function or local names subsection with bytes past its content.
// wazero 1.12 reads those three subsections without honouring their sizes
// and accepts such a section only by accident of what follows, which a
// rewrite of the section (that drops the subsections it does not know)
// changes.
func fuzzIrregularNames(wasm []byte) bool {
	if len(wasm) < 8 {
		return false
	}
	r := &fuzzReader{b: wasm[8:], ok: true}
	for r.ok && len(r.b) > 0 {
		id := r.byte()
		size := r.vec()
		if !r.ok {
			return false
		}
		sec := &fuzzReader{b: r.b[:size], ok: true}
		r.b = r.b[size:]
		if id != 0 || sec.name() != "name" || !sec.ok {
			continue
		}
		for sec.ok && len(sec.b) > 0 {
			id := sec.byte()
			size := sec.vec()
			if !sec.ok {
				return false
			}
			sub := &fuzzReader{b: sec.b[:size], ok: true}
			sec.b = sec.b[size:]
			switch id {
			case 0:
				sub.name()
			case 1:
				sub.nameMap()
			case 2:
				for n := sub.vec(); sub.ok && n > 0; n-- {
					sub.u32()
					sub.nameMap()
				}
			default:
				continue
			}
			if !sub.ok || len(sub.b) > 0 {
				return true
			}
		}
	}
	return false
}

func (r *fuzzReader) nameMap() {
	for n := r.vec(); r.ok && n > 0; n-- {
		r.u32()
		r.name()
	}
}

func (r *fuzzReader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

// fuzzReader reads Wasm encodings; ok turns false at the first problem.
type fuzzReader struct {
	b  []byte
	ok bool
}

func (r *fuzzReader) byte() byte {
	if !r.ok || len(r.b) == 0 {
		r.ok = false
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) u32() uint32 {
	var v uint64
	for shift := 0; r.ok && shift < 35; shift += 7 {
		c := r.byte()
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return uint32(v)
		}
	}
	r.ok = false
	return 0
}

// sleb skips a signed LEB128 of up to 64 bits.
func (r *fuzzReader) sleb() {
	for i := 0; r.ok && i < 10; i++ {
		if r.byte() < 0x80 {
			return
		}
	}
	r.ok = false
}

func (r *fuzzReader) skip(n uint64) {
	if !r.ok || n > uint64(len(r.b)) {
		r.ok = false
		return
	}
	r.b = r.b[n:]
}

// vec reads a vector length, which cannot exceed the bytes left: every
// element takes at least one byte.
func (r *fuzzReader) vec() uint32 {
	n := r.u32()
	if uint64(n) > uint64(len(r.b)) {
		r.ok = false
		return 0
	}
	return n
}

func (r *fuzzReader) name() string {
	n := r.vec()
	if !r.ok {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// expr skips a constant expression.
func (r *fuzzReader) expr() {
	for r.ok {
		switch op := r.byte(); op {
		case 0x0b: // end
			return
		case 0x41, 0x42: // i32.const, i64.const
			r.sleb()
		case 0x43:
			r.skip(4)
		case 0x44:
			r.skip(8)
		case 0x23, 0xd2: // global.get, ref.func
			r.u32()
		case 0xd0: // ref.null
			r.byte()
		case 0xfd: // v128.const
			if r.u32() != 12 {
				r.ok = false
			}
			r.skip(16)
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constants
		default:
			r.ok = false
		}
	}
}

func (r *fuzzReader) elementSection() {
	for n := r.vec(); r.ok && n > 0; n-- {
		flags := r.u32()
		if flags > 7 {
			r.ok = false
			return
		}
		if flags&2 != 0 && flags&1 == 0 { // explicit table index
			r.u32()
		}
		if flags&1 == 0 { // active: offset
			r.expr()
		}
		if flags&3 != 0 { // element kind or reference type
			r.byte()
		}
		for m := r.vec(); r.ok && m > 0; m-- {
			if flags&4 != 0 {
				r.expr()
			} else {
				r.u32()
			}
		}
	}
}

func (r *fuzzReader) codeSection() {
	for n := r.vec(); r.ok && n > 0; n-- {
		size := r.vec()
		if !r.ok {
			return
		}
		body := &fuzzReader{b: r.b[:size], ok: true}
		r.b = r.b[size:]
		var locals uint64
		for m := body.vec(); body.ok && m > 0; m-- {
			locals += uint64(body.u32())
			body.byte()
		}
		if !body.ok || locals > 1<<24 {
			r.ok = false
		}
	}
}

func (r *fuzzReader) dataSection() {
	for n := r.vec(); r.ok && n > 0; n-- {
		switch r.u32() {
		case 0:
			r.expr()
		case 1:
		case 2:
			r.u32()
			r.expr()
		default:
			r.ok = false
		}
		r.skip(uint64(r.vec()))
	}
}

// nameSection checks the counts of the function and local name maps.
func (r *fuzzReader) nameSection() {
	for r.ok && len(r.b) > 0 {
		id := r.byte()
		size := r.vec()
		if !r.ok {
			return
		}
		sub := &fuzzReader{b: r.b[:size], ok: true}
		r.b = r.b[size:]
		switch id {
		case 0:
			sub.name()
		case 1:
			sub.nameMap()
		case 2:
			for n := sub.vec(); sub.ok && n > 0; n-- {
				sub.u32()
				sub.nameMap()
			}
		}
		r.ok = sub.ok
	}
}
