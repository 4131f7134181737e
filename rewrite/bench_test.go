package rewrite_test

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/rewrite"
)

// BenchmarkFuel runs the cpu guest's workloads unrewritten, metered, and
// metered with the frame bound (as the host rewrites), on raw wazero (no
// interruption), in one run: compare them.
func BenchmarkFuel(b *testing.B) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	_, err := r.NewHostModuleBuilder(rewrite.RuntimeModule).NewFunctionBuilder().
		WithFunc(func(int64) int64 { return 100_000 }).Export(rewrite.TickFunction).Instantiate(ctx)
	if err != nil {
		b.Fatal(err)
	}
	wasm := guestexamples.Wasm("cpu")
	metered, _, err := rewrite.Rewrite(wasm, rewrite.Options{Fuel: true, Link: true, InitialFuel: 100_000})
	if err != nil {
		b.Fatal(err)
	}
	framed, _, err := rewrite.Rewrite(wasm, rewrite.Options{Fuel: true, Link: true, InitialFuel: 100_000, MaxFrames: 10_000}) // host.MaxFrames
	if err != nil {
		b.Fatal(err)
	}
	mods := map[string][]byte{"plain": wasm, "fuel": metered, "frames": framed}
	for _, w := range []struct {
		fn  string
		arg uint64
	}{{"mix", 1000}, {"empty", 1000}, {"fib", 20}} {
		for _, kind := range []string{"plain", "fuel", "frames"} {
			mod, err := r.InstantiateWithConfig(ctx, mods[kind], wazero.NewModuleConfig().WithName(""))
			if err != nil {
				b.Fatal(err)
			}
			f := mod.ExportedFunction(w.fn)
			b.Run(w.fn+"/"+kind, func(b *testing.B) {
				stack := make([]uint64, 1)
				for b.Loop() {
					stack[0] = w.arg
					if err := f.CallWithStack(ctx, stack); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
