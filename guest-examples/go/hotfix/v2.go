//go:build v2

package main

import (
	"strconv"

	"github.com/wasmhot/wasmhot/guest"
)

const step = 10

// state is v2's: the count and the version it was upgraded from.
type state struct{ count, from int64 }

func load(b []byte) state {
	if len(b) != 16 {
		return state{}
	}
	return state{le64(b), le64(b[8:])}
}

func (s state) bytes() []byte {
	b := make([]byte, 16)
	putLE64(b, s.count)
	putLE64(b[8:], s.from)
	return b
}

func (s state) String() string {
	return "v2 count=" + strconv.FormatInt(s.count, 10) + " from=" + strconv.FormatInt(s.from, 10)
}

// codeChange runs in the new instance before server when a process moves
// here from another version: v1's 8-byte state becomes {count, from_vsn};
// a v2 state stays as it is.
//
//go:wasmexport code_change
func codeChange(fromVsn int64) {
	if st := guest.State(); len(st) == 8 {
		guest.SetState(state{count: le64(st), from: fromVsn}.bytes())
	}
}
