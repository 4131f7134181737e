//go:build !wasip1

package guest

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

// checkedFake answers CallChecked: "add" sums its arguments; anything else
// returns status.
type checkedFake struct {
	fakeHost
	status int32
}

func (f *checkedFake) callChecked(mod, fn string, args []byte, nargs int, res []byte, nres int) int32 {
	if fn != "add" {
		return f.status
	}
	var sum uint64
	for i := range nargs {
		sum += binary.LittleEndian.Uint64(args[8*i:])
	}
	binary.LittleEndian.PutUint64(res, sum)
	return 0
}

func TestCallChecked(t *testing.T) {
	f := &checkedFake{}
	abiHost = f
	t.Cleanup(func() { abiHost = nil })
	res, err := CallChecked("m", "add", 1, 2, 40)
	if err != nil || !reflect.DeepEqual(res, []uint64{42}) {
		t.Fatalf("add = %v, %v", res, err)
	}
	for st, want := range map[int32]error{-1: ErrUndef, -2: ErrBadArity, -3: ErrBadArgument, -4: ErrTrapped} {
		f.status = st
		if _, err := CallChecked("m", "gone", 0); !errors.Is(err, want) {
			t.Errorf("status %d: %v, want %v", st, err, want)
		}
	}
	if _, err := CallChecked("m", "add", 17); !errors.Is(err, ErrBadArgument) {
		t.Errorf("17 results: %v", err)
	}
}
