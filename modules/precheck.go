package modules

import (
	"errors"
	"fmt"
)

// precheck walks the section headers of a module and refuses a section
// whose declared number of items cannot fit in its bytes (every item takes
// at least one). wazero's decoder sizes its slices from these counts before
// reading the items, so a 74-byte module declaring 268 million imports
// would make it allocate gigabytes and kill the process with an
// unrecoverable out-of-memory error. It also refuses a table whose
// initial size is over MaxTableElements: wazero allocates a table's
// elements at instantiation, 8 bytes each, so one byte flipped in a table
// section could make a load take gigabytes the memory budget never sees.
// Everything else is left to wazero.
func precheck(wasm []byte) error {
	if len(wasm) < 8 {
		return nil // wazero says what is wrong
	}
	if _, err := VsnTag(wasm); err != nil {
		return err
	}
	b := wasm[8:]
	for len(b) > 0 {
		id := b[0]
		size, n, err := uleb32(b[1:])
		if err != nil {
			return fmt.Errorf("section %d: size: %w", id, err)
		}
		b = b[1+n:]
		if uint64(size) > uint64(len(b)) {
			return fmt.Errorf("section %d: size %d past the end of the module (%d bytes left)", id, size, len(b))
		}
		content := b[:size]
		b = b[size:]
		switch id {
		case 1, 2, 3, 4, 5, 6, 7, 9, 10, 11: // sections that are vectors
			count, n, err := uleb32(content)
			if err != nil {
				return fmt.Errorf("section %d: count: %w", id, err)
			}
			if uint64(count) > uint64(len(content)-n) {
				return fmt.Errorf("section %d: declares %d items in %d bytes", id, count, len(content)-n)
			}
			if id == 4 {
				if err := checkTables(content[n:], count); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// MaxTableElements bounds the initial size of each table of a module.
const MaxTableElements = 1 << 20

// checkTables reads the table section's items: a reference type, then
// limits (a flag, the minimum, the maximum if the flag says so).
func checkTables(b []byte, count uint32) error {
	for i := uint32(0); i < count; i++ {
		if len(b) < 2 {
			return nil // wazero says what is wrong
		}
		flags := b[1]
		b = b[2:]
		min, n, err := uleb32(b)
		if err != nil {
			return nil
		}
		if min > MaxTableElements {
			return fmt.Errorf("table %d: %d elements at start, limit %d", i, min, MaxTableElements)
		}
		b = b[n:]
		if flags&1 != 0 {
			if _, n, err = uleb32(b); err != nil {
				return nil
			}
			b = b[n:]
		}
	}
	return nil
}

var errLEB = errors.New("bad LEB128 number")

func uleb32(b []byte) (v uint32, n int, err error) {
	var shift uint
	for n < len(b) && n < 5 {
		c := b[n]
		v |= uint32(c&0x7f) << shift
		n++
		if c&0x80 == 0 {
			return v, n, nil
		}
		shift += 7
	}
	return 0, n, errLEB
}
