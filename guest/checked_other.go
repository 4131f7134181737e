//go:build !wasip1

package guest

// checkedHost is what a test's fake host implements to answer CallChecked.
type checkedHost interface {
	callChecked(mod, fn string, args []byte, nargs int, res []byte, nres int) int32
}

func callChecked(module, function string, args []byte, nargs int, res []byte, nres int) int32 {
	h, ok := theHost().(checkedHost)
	if !ok {
		panic(ErrNotGuest)
	}
	return h.callChecked(module, function, args, nargs, res, nres)
}
