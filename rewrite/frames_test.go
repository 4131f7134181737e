package rewrite_test

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/rewrite"
)

// TestFrames: with MaxFrames, a function counts itself out by every way it
// can leave (return, br_if, br_table and br to the body's label, the end of
// the body), so calls within the bound return what they would without it
// and leave the counter at zero; a call past the bound traps with the
// counter above it.
func TestFrames(t *testing.T) {
	ctx := context.Background()
	const limit = 1000
	m := newMeter(t, 1<<40)
	out, info, err := rewrite.Rewrite(guestexamples.Wasm("frames"), rewrite.Options{Fuel: true, Link: true, InitialFuel: 1 << 40, MaxFrames: limit})
	if err != nil {
		t.Fatal(err)
	}
	if info.FramesIndex == 0 {
		t.Fatal("no frame counter injected")
	}
	mod, err := m.r.InstantiateWithConfig(ctx, out, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	frames := mod.ExportedGlobal(rewrite.FramesGlobal).(api.MutableGlobal)
	for _, fn := range []string{"by_return", "by_brif", "by_table", "by_end", "by_br"} {
		for _, n := range []uint64{0, 1, 500, limit - 1} {
			res, err := mod.ExportedFunction(fn).Call(ctx, n)
			if err != nil {
				t.Fatalf("%s(%d): %v", fn, n, err)
			}
			if len(res) == 1 && res[0] != n {
				t.Errorf("%s(%d) = %d", fn, n, res[0])
			}
			if got := int32(frames.Get()); got != 0 {
				t.Fatalf("%s(%d): frame counter %d after the call, want 0", fn, n, got)
			}
		}
		if _, err := mod.ExportedFunction(fn).Call(ctx, limit+10); err == nil {
			t.Errorf("%s(%d) past the bound of %d frames returned", fn, limit+10, limit)
		}
		if got := int32(frames.Get()); got <= limit {
			t.Errorf("%s: frame counter %d after the trap, want above %d", fn, got, limit)
		}
		frames.Set(0)
	}
}
