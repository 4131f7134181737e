package guest

import (
	"encoding/binary"
	"errors"
)

// ErrTrapped: a checked call's callee trapped (or hit a limit of its own);
// the caller goes on.
var ErrTrapped = errors.New("guest: the callee trapped")

// maxChecked is the most arguments or results CallChecked passes.
const maxChecked = 16

// CallChecked calls module:function, any function of another guest (or
// of this module through its name), with args and nres results, through
// the export table's current version, like an external call, but returns
// its failure as a value instead of ending the process (Erlang's catch
// M:F(A)): ErrUndef when the current version does not export it (a new
// version dropped it), ErrBadArity when it takes other than len(args)
// parameters or returns other than nres results, ErrTrapped when it
// trapped, ErrBadArgument for a bad name or more than 16 arguments or
// results. An i32 or f32 argument or result is in the low 32 bits (use
// math.Float64bits for f64). A plain import of a dropped function ends
// the process with undef instead (ABI v2's call_checked).
func CallChecked(module, function string, nres int, args ...uint64) ([]uint64, error) {
	if len(args) > maxChecked || nres < 0 || nres > maxChecked {
		return nil, ErrBadArgument
	}
	in := make([]byte, 8*len(args))
	for i, a := range args {
		binary.LittleEndian.PutUint64(in[8*i:], a)
	}
	out := make([]byte, 8*nres)
	switch st := callChecked(module, function, in, len(args), out, nres); st {
	case 0:
	case codeUndef:
		return nil, ErrUndef
	case codeLimit:
		return nil, ErrBadArity
	case -4:
		return nil, ErrTrapped
	default:
		return nil, ErrBadArgument
	}
	res := make([]uint64, nres)
	for i := range res {
		res[i] = binary.LittleEndian.Uint64(out[8*i:])
	}
	return res, nil
}
