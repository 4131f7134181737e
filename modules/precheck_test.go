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
