package host

import (
	"github.com/wasmhot/wasmhot/internal/wasmbin"

	"fmt"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmhot/wasmhot/modules"
)

// External calls between guest modules.
//
// wazero binds a module's imports once, at instantiation, to another
// instance; wasmhot must instead route each call to the callee's current
// version at call time. So for every guest module M that a version imports
// from, the host generates a small Wasm "stub" module that exports exactly
// the functions imported from M, with their types. Each stub function packs
// its arguments into i64s and calls one host dispatch function
// (wasmhot:ext.callN) with the id of the export-table slot of M:fn; the
// dispatcher looks the slot up, checks the signature and calls the current
// version. The importing instance is linked to its stubs with
// experimental.WithImportResolver.

// extModule is the host module of the dispatch functions. It is not a valid
// guest module name, so no guest can import it by accident.
const extModule = "wasmhot:ext"

// maxExtParams is the most parameters an external call between guest
// modules may have; it may have at most one result.
const maxExtParams = 8

func dispatchName(n int, result bool) string {
	if result {
		return fmt.Sprintf("call%d", n)
	}
	return fmt.Sprintf("call%dv", n)
}

// checkExtImport says whether imp, an import from a guest module, can be
// routed: numbers only, at most maxExtParams parameters and one result.
func checkExtImport(imp modules.Import) error {
	if !modules.ValidName(imp.Module) {
		return fmt.Errorf("import module %q is neither %s nor a valid guest module name", imp.Module, ABIModule)
	}
	if len(imp.Params) > maxExtParams || len(imp.Results) > 1 {
		return fmt.Errorf("external calls take at most %d parameters and return at most one result", maxExtParams)
	}
	for _, t := range append(append([]api.ValueType(nil), imp.Params...), imp.Results...) {
		switch t {
		case api.ValueTypeI32, api.ValueTypeI64, api.ValueTypeF32, api.ValueTypeF64:
		default:
			return fmt.Errorf("external calls pass numbers only, not %s", api.ValueTypeName(t))
		}
	}
	return nil
}

// stubFunc is one function of a stub module.
type stubFunc struct {
	name string
	sig  modules.Signature
	slot uint32 // id of the ext slot the function dispatches to
}

// encodeStub builds the binary of a stub module exporting fns.
func encodeStub(fns []stubFunc) []byte {
	// Dispatch imports used, in order of first use.
	type imp struct {
		n      int
		result bool
	}
	var imps []imp
	impIdx := map[imp]int{}
	for _, f := range fns {
		k := imp{len(f.sig.Params), len(f.sig.Results) == 1}
		if _, ok := impIdx[k]; !ok {
			impIdx[k] = len(imps)
			imps = append(imps, k)
		}
	}
	// Types: one per import, then one per stub function.
	var types [][]byte
	for _, k := range imps {
		params := []api.ValueType{api.ValueTypeI32}
		for i := 0; i < k.n; i++ {
			params = append(params, api.ValueTypeI64)
		}
		var results []api.ValueType
		if k.result {
			results = []api.ValueType{api.ValueTypeI64}
		}
		types = append(types, wasmbin.FuncType(params, results))
	}
	for _, f := range fns {
		types = append(types, wasmbin.FuncType(f.sig.Params, f.sig.Results))
	}

	var out []byte
	out = append(out, 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00)
	out = wasmbin.AppendSection(out, 1, wasmbin.Vec(types))

	var imports [][]byte
	for i, k := range imps {
		var e []byte
		e = wasmbin.AppendName(e, extModule)
		e = wasmbin.AppendName(e, dispatchName(k.n, k.result))
		e = append(e, 0x00)
		e = wasmbin.AppendU32(e, uint32(i))
		imports = append(imports, e)
	}
	out = wasmbin.AppendSection(out, 2, wasmbin.Vec(imports))

	var funcs [][]byte
	for i := range fns {
		funcs = append(funcs, wasmbin.AppendU32(nil, uint32(len(imps)+i)))
	}
	out = wasmbin.AppendSection(out, 3, wasmbin.Vec(funcs))

	var exports [][]byte
	for i, f := range fns {
		var e []byte
		e = wasmbin.AppendName(e, f.name)
		e = append(e, 0x00)
		e = wasmbin.AppendU32(e, uint32(len(imps)+i))
		exports = append(exports, e)
	}
	out = wasmbin.AppendSection(out, 7, wasmbin.Vec(exports))

	var bodies [][]byte
	for _, f := range fns {
		var b []byte
		b = append(b, 0x00) // no locals
		b = append(b, 0x41) // i32.const slot
		b = wasmbin.AppendS64(b, int64(int32(f.slot)))
		for i, t := range f.sig.Params {
			b = append(b, 0x20) // local.get i
			b = wasmbin.AppendU32(b, uint32(i))
			switch t {
			case api.ValueTypeI32:
				b = append(b, 0xad) // i64.extend_i32_u
			case api.ValueTypeF32:
				b = append(b, 0xbc, 0xad) // i32.reinterpret_f32, i64.extend_i32_u
			case api.ValueTypeF64:
				b = append(b, 0xbd) // i64.reinterpret_f64
			}
		}
		b = append(b, 0x10) // call dispatch
		b = wasmbin.AppendU32(b, uint32(impIdx[imp{len(f.sig.Params), len(f.sig.Results) == 1}]))
		if len(f.sig.Results) == 1 {
			switch f.sig.Results[0] {
			case api.ValueTypeI32:
				b = append(b, 0xa7) // i32.wrap_i64
			case api.ValueTypeF32:
				b = append(b, 0xa7, 0xbe) // i32.wrap_i64, f32.reinterpret_i32
			case api.ValueTypeF64:
				b = append(b, 0xbf) // f64.reinterpret_i64
			}
		}
		b = append(b, 0x0b) // end
		bodies = append(bodies, wasmbin.AppendU32(nil, uint32(len(b))), b)
	}
	var code []byte
	code = wasmbin.AppendU32(code, uint32(len(fns)))
	for _, b := range bodies {
		code = append(code, b...)
	}
	return wasmbin.AppendSection(out, 10, code)
}
