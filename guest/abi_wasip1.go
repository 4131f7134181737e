//go:build wasip1

package guest

import "unsafe"

// The imports of wasmhot's guest ABI v1 (docs/design.md, "Guest ABI v1, as
// built"). Pointers are addresses in the guest's linear memory, lengths are
// i32.

//go:wasmimport wasmhot self
func abiSelf() int64

//go:wasmimport wasmhot spawn
func abiSpawn(mod unsafe.Pointer, modLen uint32, fn unsafe.Pointer, fnLen uint32, arg unsafe.Pointer, argLen uint32) int64

//go:wasmimport wasmhot send
func abiSend(pid int64, msg unsafe.Pointer, n uint32) int32

//go:wasmimport wasmhot receive
func abiReceive(buf unsafe.Pointer, capacity uint32, timeoutMS int32) int32

//go:wasmimport wasmhot sleep
func abiSleep(ms int32)

//go:wasmimport wasmhot state
func abiState(buf unsafe.Pointer, capacity uint32) int32

//go:wasmimport wasmhot set_state
func abiSetState(st unsafe.Pointer, n uint32)

//go:wasmimport wasmhot continue
func abiContinue(fn unsafe.Pointer, n uint32)

//go:wasmimport wasmhot call_bytes
func abiCallBytes(mod unsafe.Pointer, modLen uint32, fn unsafe.Pointer, fnLen uint32, in unsafe.Pointer, inLen uint32, out unsafe.Pointer, outCap uint32) int32

//go:wasmimport wasmhot log
func abiLog(line unsafe.Pointer, n uint32)

// alloc is the bytes convention's allocator: the host calls it for the
// input of a bytes call and copies the input to the address it returns.
// The buffer stays reachable (the GC does not free it) until the bytes
// function claims it with Input.
//
//go:wasmexport alloc
func alloc(size uint32) uint32 { return allocBuf(size) }

// memAt returns the n bytes of linear memory at ptr.
func memAt(ptr, n uint32) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(nil), ptr)), n) // linear memory starts at 0
}
