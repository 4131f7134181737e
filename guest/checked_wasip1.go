//go:build wasip1

package guest

import "unsafe"

//go:wasmimport wasmhot call_checked
func abiCallChecked(mod unsafe.Pointer, modLen uint32, fn unsafe.Pointer, fnLen uint32, args unsafe.Pointer, nargs uint32, res unsafe.Pointer, nres uint32) int32

func callChecked(module, function string, args []byte, nargs int, res []byte, nres int) int32 {
	mp, ml := strPtr(module)
	fp, fl := strPtr(function)
	ap, _ := bytesPtr(args)
	rp, _ := bytesPtr(res)
	return abiCallChecked(mp, ml, fp, fl, ap, uint32(nargs), rp, uint32(nres))
}
