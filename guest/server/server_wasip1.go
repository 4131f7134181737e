//go:build wasip1

package server

import "github.com/wasmhot/wasmhot/guest"

// codeChange is code_change of ABI v2 (docs/design.md): it runs the new
// version's CodeChange on the saved state; an error refuses the change.
//
//go:wasmexport code_change
func codeChange(fromPtr, fromLen, extraPtr, extraLen uint32) uint64 {
	// One buffer holds from, then extra: read extra before claiming it.
	extra := append([]byte(nil), guest.Input(extraPtr, extraLen)...)
	from := string(guest.Input(fromPtr, fromLen))
	s := registered
	if s == nil {
		return guest.Bytes([]byte(ErrNoServer.Error()))
	}
	if s.CodeChange == nil {
		return 0
	}
	raw := guest.State()
	st := raw
	if len(raw) >= len(stateTag) && string(raw[:len(stateTag)]) == stateTag {
		st = raw[len(stateTag):]
	}
	ns, err := s.CodeChange(from, st, extra)
	if err != nil {
		r := err.Error()
		if r == "" {
			r = "refused"
		}
		return guest.Bytes([]byte(r))
	}
	save(ns)
	return 0
}
