package modules_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/wasmhot/wasmhot/modules"
)

// A module declaring far more items than its section holds is refused
// before wazero sizes a slice from the count (a 74-byte module declaring
// 268 million imports used to exhaust the memory of the process).
func TestPrecheckRefusesImpossibleCounts(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	tab := modules.NewTable(r, modules.Options{})
	for name, wasm := range map[string]string{
		"imports":          "\x00asm\x01\x00\x00\x00\x02\x05\x80\xc0\xff\xff\x00",
		"functions":        "\x00asm\x01\x00\x00\x00\x03\x05\xff\xff\xff\xff\x0f",
		"exports":          "\x00asm\x01\x00\x00\x00\x07\x02\x7f\x00",
		"section past end": "\x00asm\x01\x00\x00\x00\x01\x7f\x00",
		"bad LEB":          "\x00asm\x01\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tab.Prepare(ctx, modules.Source{Name: "m", Wasm: []byte(wasm)})
			if !errors.Is(err, modules.ErrBadModule) {
				t.Fatalf("Prepare: %v, want ErrBadModule", err)
			}
		})
	}
}

// A table larger than MaxTableElements at start is refused before wazero
// allocates it (one flipped byte in a table section could ask for 2^32
// elements); one at the limit loads.
func TestPrecheckRefusesHugeTables(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	tab := modules.NewTable(r, modules.Options{})
	table := func(min uint32) []byte {
		var leb []byte
		for {
			c := byte(min & 0x7f)
			min >>= 7
			if min == 0 {
				leb = append(leb, c)
				break
			}
			leb = append(leb, c|0x80)
		}
		content := append([]byte{1, 0x70, 0x00}, leb...) // one funcref table, no max
		return append(append([]byte("\x00asm\x01\x00\x00\x00\x04"), byte(len(content))), content...)
	}
	if _, err := tab.Prepare(ctx, modules.Source{Name: "big", Wasm: table(100_000_000)}); !errors.Is(err, modules.ErrBadModule) {
		t.Fatalf("a table of 100 million elements: %v, want ErrBadModule", err)
	}
	p, err := tab.Prepare(ctx, modules.Source{Name: "ok", Wasm: table(modules.MaxTableElements)})
	if err != nil {
		t.Fatalf("a table at the limit: %v", err)
	}
	p.Discard(ctx)
}
