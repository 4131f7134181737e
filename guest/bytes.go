package guest

import "unsafe"

// The bytes convention, guest side. The host calls alloc(len) (exported by
// this package on wasip1), writes the input at the address it returns, then
// calls the bytes function f(ptr, len) -> ptr<<32|len and copies the result
// out of the guest's memory.

// pinned keeps the buffers handed out by alloc reachable until the bytes
// function claims them with Input: the host writes into them after alloc
// returned, when nothing in Go refers to them any more.
var pinned = map[uint32][]byte{}

// result keeps the last result of Bytes reachable until the host has read it
// (it reads it as soon as the bytes function returns, before any other call
// on the instance).
var result []byte

func addr(b []byte) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

// allocBuf returns the address of a new buffer of size bytes (at least one,
// so that every address is distinct) and pins it.
func allocBuf(size uint32) uint32 {
	b := make([]byte, max(size, 1))
	p := addr(b)
	pinned[p] = b
	return p
}

// Input returns the input of a bytes call, whose address and length the
// host passed to the bytes function, and unpins it: it belongs to the
// caller from now on. Every bytes function should claim its input, or the
// buffer stays pinned. An address that alloc did not hand out is read (and
// copied) from linear memory as it is.
func Input(ptr, n uint32) []byte {
	if b, ok := pinned[ptr]; ok {
		delete(pinned, ptr)
		if int(n) <= len(b) {
			return b[:n:n]
		}
	}
	return append([]byte(nil), memAt(ptr, n)...)
}

// Bytes returns out as a bytes function's result, ptr<<32|len, and keeps
// out reachable until the next call of Bytes. Do not change out afterwards.
func Bytes(out []byte) uint64 {
	result = out
	if len(out) == 0 {
		return 0
	}
	return uint64(addr(out))<<32 | uint64(uint32(len(out)))
}

// HandleBytes is a whole bytes function: it claims the input at ptr, n,
// calls f with it and returns f's result as Bytes does.
//
//	//go:wasmexport upper
//	func upper(ptr, n uint32) uint64 { return guest.HandleBytes(ptr, n, bytes.ToUpper) }
func HandleBytes(ptr, n uint32, f func(in []byte) []byte) uint64 {
	return Bytes(f(Input(ptr, n)))
}

// HostBytes claims the bytes a host function returned as ptr<<32|len, in
// memory the host got from this module's alloc (host.Caller.WriteBytes):
// the result of an import such as
//
//	//go:wasmimport env get
//	func get(key string) uint64
//
// which guest.HostBytes(get("name")) turns into a []byte that belongs to
// the caller. 0 (an empty result) is nil.
func HostBytes(packed uint64) []byte {
	if packed == 0 {
		return nil
	}
	return Input(uint32(packed>>32), uint32(packed))
}
