//go:build !wasip1

package guest

import "unsafe"

// Outside wasip1 there is no host: the ABI functions call abiHost, which
// panics with ErrNotGuest unless a test of this package set a fake.

type hostABI interface {
	self() int64
	spawn(mod, fn string, arg []byte) int64
	send(pid int64, msg []byte) int32
	receive(buf []byte, timeoutMS int32) int32
	sleep(ms int32)
	state(buf []byte) int32
	setState(st []byte)
	cont(fn string)
	callBytes(mod, fn string, in, out []byte) int32
	log(line []byte)
}

var abiHost hostABI

func theHost() hostABI {
	if abiHost == nil {
		panic(ErrNotGuest)
	}
	return abiHost
}

func bytesAt(p unsafe.Pointer, n uint32) []byte {
	if n == 0 || p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(p), n)
}

func stringAt(p unsafe.Pointer, n uint32) string { return string(bytesAt(p, n)) }

func abiSelf() int64 { return theHost().self() }

func abiSpawn(mod unsafe.Pointer, modLen uint32, fn unsafe.Pointer, fnLen uint32, arg unsafe.Pointer, argLen uint32) int64 {
	return theHost().spawn(stringAt(mod, modLen), stringAt(fn, fnLen), bytesAt(arg, argLen))
}

func abiSend(pid int64, msg unsafe.Pointer, n uint32) int32 {
	return theHost().send(pid, bytesAt(msg, n))
}

func abiReceive(buf unsafe.Pointer, capacity uint32, timeoutMS int32) int32 {
	return theHost().receive(bytesAt(buf, capacity), timeoutMS)
}

func abiSleep(ms int32) { theHost().sleep(ms) }

func abiState(buf unsafe.Pointer, capacity uint32) int32 {
	return theHost().state(bytesAt(buf, capacity))
}

func abiSetState(st unsafe.Pointer, n uint32) { theHost().setState(bytesAt(st, n)) }

func abiContinue(fn unsafe.Pointer, n uint32) { theHost().cont(stringAt(fn, n)) }

func abiCallBytes(mod unsafe.Pointer, modLen uint32, fn unsafe.Pointer, fnLen uint32, in unsafe.Pointer, inLen uint32, out unsafe.Pointer, outCap uint32) int32 {
	return theHost().callBytes(stringAt(mod, modLen), stringAt(fn, fnLen), bytesAt(in, inLen), bytesAt(out, outCap))
}

func abiLog(line unsafe.Pointer, n uint32) { theHost().log(bytesAt(line, n)) }

// memAt has no linear memory to read outside wasip1.
func memAt(ptr, n uint32) []byte { return nil }
