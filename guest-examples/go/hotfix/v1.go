//go:build !v2

package main

import "strconv"

const step = 1

// state is v1's: the count.
type state struct{ count int64 }

func load(b []byte) state {
	if len(b) != 8 {
		return state{}
	}
	return state{le64(b)}
}

func (s state) bytes() []byte {
	b := make([]byte, 8)
	putLE64(b, s.count)
	return b
}

func (s state) String() string { return "v1 count=" + strconv.FormatInt(s.count, 10) }
