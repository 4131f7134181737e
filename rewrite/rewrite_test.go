package rewrite_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/internal/testmode"
	"github.com/wasmhot/wasmhot/rewrite"
)

// meter is a wazero runtime with the tick import: it refills slice units
// and counts what was used.
type meter struct {
	r     wazero.Runtime
	slice int64
	ticks int
	// used accumulates the fuel spent in ticked slices.
	used int64
}

func newMeter(t testing.TB, slice int64) *meter {
	ctx := context.Background()
	m := &meter{r: wazero.NewRuntime(ctx), slice: slice}
	t.Cleanup(func() { m.r.Close(ctx) })
	_, err := m.r.NewHostModuleBuilder(rewrite.RuntimeModule).NewFunctionBuilder().
		WithFunc(func(fuel int64) int64 {
			m.ticks++
			m.used += m.slice - fuel
			return m.slice
		}).Export(rewrite.TickFunction).Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *meter) instantiate(t testing.TB, wasm []byte) api.Module {
	t.Helper()
	out, _, err := rewrite.Rewrite(wasm, rewrite.Options{Fuel: true, Link: true, InitialFuel: m.slice})
	if err != nil {
		t.Fatal(err)
	}
	mod, err := m.r.InstantiateWithConfig(context.Background(), out, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	return mod
}

// call runs fn and returns its results and the fuel it used.
func (m *meter) call(t testing.TB, mod api.Module, fn string, args ...uint64) ([]uint64, int64) {
	t.Helper()
	g := mod.ExportedGlobal(rewrite.FuelGlobal).(api.MutableGlobal)
	g.Set(uint64(m.slice))
	m.used = 0
	res, err := mod.ExportedFunction(fn).Call(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return res, m.used + m.slice - int64(g.Get())
}

func TestFuelIsExact(t *testing.T) {
	wasm := guestexamples.Wasm("cpu")
	plain, err := wazero.NewRuntime(context.Background()).Instantiate(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	for _, slice := range []int64{1, 7, 1000, 1 << 40} {
		m := newMeter(t, slice)
		mod := m.instantiate(t, wasm)
		tests := []struct {
			fn   string
			arg  uint64
			fuel int64
		}{
			// mix: entry 2 (i64.const, local.set); each iteration 4 up to
			// and with br_if, then 29 (five 6-instruction statements and
			// br); the exit 4, then local.get.
			{"mix", 0, 2 + 4 + 1},
			{"mix", 10, 2 + 10*(4+29) + 4 + 1},
			// empty: each iteration 4 + 5, the exit 4 + 1.
			{"empty", 1000, 1000*(4+5) + 4 + 1},
			// fib: the condition costs 4 (with if); then 1; else 9 plus
			// the two calls.
			{"fib", 1, 4 + 1},
			{"fib", 2, 4 + 9 + 5 + 5},
			{"add", 0, 3},
			{"nop", 0, 0},
		}
		for _, tt := range tests {
			args := []uint64{tt.arg}
			if tt.fn == "add" {
				args = []uint64{2, 3}
			}
			if tt.fn == "nop" {
				args = nil
			}
			got, fuel := m.call(t, mod, tt.fn, args...)
			want, err := plain.ExportedFunction(tt.fn).Call(context.Background(), args...)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) || (len(got) == 1 && got[0] != want[0]) {
				t.Errorf("slice %d: %s(%d) = %v, unrewritten %v", slice, tt.fn, tt.arg, got, want)
			}
			if fuel != tt.fuel {
				t.Errorf("slice %d: %s(%d) used %d fuel, want %d", slice, tt.fn, tt.arg, fuel, tt.fuel)
			}
		}
	}
}

func TestSpinTicks(t *testing.T) {
	stop := errors.New("stop")
	// spin never returns: the tick import is its only way out. A host
	// function that panics unwinds the guest.
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	ticks := 0
	_, err := r.NewHostModuleBuilder(rewrite.RuntimeModule).NewFunctionBuilder().
		WithFunc(func(fuel int64) int64 {
			ticks++
			if ticks == 100 {
				panic(stop)
			}
			return 1000
		}).Export(rewrite.TickFunction).Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := rewrite.Rewrite(guestexamples.Wasm("cpu"), rewrite.Options{Fuel: true, Link: true, InitialFuel: 1000})
	if err != nil {
		t.Fatal(err)
	}
	spin, err := r.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	_, err = spin.ExportedFunction("spin").Call(ctx)
	if !errors.Is(err, stop) && (err == nil || !strings.Contains(err.Error(), "stop")) {
		t.Fatalf("spin: %v, want the tick's panic", err)
	}
	if ticks != 100 {
		t.Fatalf("ticks = %d, want 100", ticks)
	}
}

func TestReservedNames(t *testing.T) {
	out, _, err := rewrite.Rewrite(guestexamples.Wasm("cpu"), rewrite.Options{Fuel: true, Link: true})
	if err != nil {
		t.Fatal(err)
	}
	// A guest may not import from the host's reserved modules (the link
	// epoch), whatever it imports.
	epoch := "\x00asm\x01\x00\x00\x00\x02\x17\x01\x0cwasmhot:link\x05epoch\x03\x7e\x01"
	if _, _, err := rewrite.Rewrite([]byte(epoch), rewrite.Options{Fuel: true, Link: true}); !errors.Is(err, rewrite.ErrReserved) {
		t.Fatalf("import of wasmhot:link.epoch: %v, want ErrReserved", err)
	}
	// Rewriting twice finds the names of the first rewrite.
	if _, _, err := rewrite.Rewrite(out, rewrite.Options{Fuel: true, Link: true}); !errors.Is(err, rewrite.ErrReserved) {
		t.Fatalf("second rewrite: %v, want ErrReserved", err)
	}
}

func TestRefusesGarbage(t *testing.T) {
	for _, in := range [][]byte{nil, []byte("\x00asm"), []byte("\x00asm\x01\x00\x00\x00\x0a\xff"), []byte("hello world")} {
		if _, _, err := rewrite.Rewrite(in, rewrite.Options{Fuel: true, Link: true}); !errors.Is(err, rewrite.ErrMalformed) {
			t.Errorf("%q: %v, want ErrMalformed", in, err)
		}
	}
}

// TestGuestExamples rewrites every committed guest: each that compiles
// before compiles after. The Go guests (2 MB each, nearly the same code)
// are all rewritten, and one is compiled: compiling them all takes minutes
// under the race detector, where even the one (20 s) waits for a long run
// (the rewritten Go guests are compiled and run by the tests of
// guest-examples).
func TestGuestExamples(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	dirs := []string{"../guest-examples/wasm", "../guest-examples/wasm-langs"}
	n, goCompiled := 0, testmode.Race && !testmode.Long()
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".wasm") {
				return err
			}
			wasm, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			goGuest := strings.HasPrefix(filepath.Base(path), "go_")
			if goGuest && goCompiled {
				if _, _, err := rewrite.Rewrite(wasm, rewrite.Options{Fuel: true, Link: true, InitialFuel: 100}); err != nil {
					t.Errorf("%s: %v", path, err)
				}
				n++
				return nil
			}
			goCompiled = goCompiled || goGuest
			if c, err := r.CompileModule(ctx, wasm); err != nil {
				return nil
			} else {
				c.Close(ctx)
			}
			out, info, err := rewrite.Rewrite(wasm, rewrite.Options{Fuel: true, Link: true, InitialFuel: 100})
			if strings.HasPrefix(filepath.Base(path), "reserved_") {
				if !errors.Is(err, rewrite.ErrReserved) {
					t.Errorf("%s: %v, want ErrReserved", path, err)
				}
				return nil
			}
			if err != nil {
				t.Errorf("%s: %v", path, err)
				return nil
			}
			c, err := r.CompileModule(ctx, out)
			if err != nil {
				t.Errorf("%s: rewritten module does not compile: %v", path, err)
				return nil
			}
			c.Close(ctx)
			n++
			t.Logf("%s: %d functions, %d checks, %d charges, %d -> %d bytes", path, info.Functions, info.Checks, info.Charges, len(wasm), len(out))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 30 {
		t.Fatalf("rewrote %d modules, want every guest example", n)
	}
}

// bound keeps the random inputs of the guests' loops and recursions short.
func bound(fn string) uint64 {
	if fn == "fib" {
		return 25
	}
	return 1 << 10
}

// TestDifferential calls every numeric export of the guest examples that
// import nothing, unrewritten and rewritten, on random small inputs and
// edge values: the results and traps must be the same.
func TestDifferential(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	edges := []uint64{0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 1 << 63, ^uint64(0)}
	checked := 0
	for _, name := range []string{"cpu", "bench_b"} {
		wasm := guestexamples.Wasm(name)
		plainR := wazero.NewRuntime(ctx)
		defer plainR.Close(ctx)
		plain, err := plainR.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m := newMeter(t, 1000)
		out, _, err := rewrite.Rewrite(wasm, rewrite.Options{Fuel: true, Link: true, InitialFuel: 1000})
		if err != nil {
			t.Fatal(err)
		}
		metered, err := m.r.InstantiateWithConfig(ctx, out, wazero.NewModuleConfig().WithName("").WithStartFunctions())
		if err != nil {
			t.Fatalf("%s rewritten: %v", name, err)
		}
		for fn, def := range plain.ExportedFunctionDefinitions() {
			if fn == "spin" {
				continue // never returns, either way
			}
			for i := 0; i < 50; i++ {
				args := make([]uint64, len(def.ParamTypes()))
				for j := range args {
					if i < len(edges) && len(args) > 1 {
						args[j] = edges[(i+j)%len(edges)]
					} else {
						args[j] = rng.Uint64N(bound(fn))
					}
					if def.ParamTypes()[j] == api.ValueTypeI32 {
						args[j] = uint64(uint32(args[j]))
					}
				}
				want, werr := plain.ExportedFunction(fn).Call(ctx, args...)
				got, gerr := metered.ExportedFunction(fn).Call(ctx, args...)
				if (werr == nil) != (gerr == nil) || fmt.Sprint(want) != fmt.Sprint(got) {
					t.Fatalf("%s.%s%v: unrewritten %v, %v; rewritten %v, %v", name, fn, args, want, werr, got, gerr)
				}
				checked++
			}
		}
	}
	t.Logf("%d calls compared", checked)
	if checked < 300 {
		t.Fatalf("only %d calls compared", checked)
	}
}

// TestRefusesWhatTheRewriteWouldValidate: modules that name one global or
// type past their own are invalid, but the rewrite adds exactly such a
// global (the fuel counter) and type. They must be refused, not handed the
// counter.
func TestRefusesWhatTheRewriteWouldValidate(t *testing.T) {
	const (
		types  = "\x01\x05\x01\x60\x00\x01\x7e" // (func (result i64))
		funcs  = "\x03\x02\x01\x00"
		header = "\x00asm\x01\x00\x00\x00"
	)
	code := func(body string) string {
		b := "\x00" + body + "\x0b"
		c := "\x01" + string(rune(len(b))) + b
		return "\x0a" + string(rune(len(c))) + c
	}
	tests := map[string]string{
		"global.get of an unknown global": header + types + funcs + code("\x23\x00"),
		"block of an unknown type":        header + types + funcs + code("\x02\x01\x0b\x42\x00"),
		"export of an unknown global":     header + types + funcs + "\x07\x05\x01\x01g\x03\x00" + code("\x42\x00"),
		// The rewrite adds a table and functions: the input must not name them.
		"element segment without a table": header + types + funcs + "\x09\x07\x01\x00\x41\x00\x0b\x01\x00" + code("\x42\x00"),
		"call of an unknown function":     header + types + funcs + code("\x10\x01\x1a\x42\x00"),
		"table.get of an unknown table":   header + "\x01\x05\x01\x60\x00\x01\x70" + funcs + code("\x41\x00\x25\x00"),
	}
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	for name, wasm := range tests {
		if _, err := r.CompileModule(ctx, []byte(wasm)); err == nil {
			t.Fatalf("%s: wazero accepts the input", name)
		}
		if _, _, err := rewrite.Rewrite([]byte(wasm), rewrite.Options{Fuel: true, Link: true}); !errors.Is(err, rewrite.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// TestAddedSectionsPrecedeTrailingCustom: a module that is only a name
// section gains type, import, global and export sections; they go before
// the name section, which must stay last.
func TestAddedSectionsPrecedeTrailingCustom(t *testing.T) {
	in := []byte("\x00asm\x01\x00\x00\x00\x00\x08\x04name\x02\x01\x00")
	out, _, err := rewrite.Rewrite(in, rewrite.Options{Fuel: true, Link: true})
	if err != nil {
		t.Fatal(err)
	}
	var ids []byte
	for pos := 8; pos < len(out); {
		id := out[pos]
		size, n := uint64(0), 0
		for shift := 0; ; shift += 7 {
			c := out[pos+1+n]
			n++
			size |= uint64(c&0x7f) << shift
			if c&0x80 == 0 {
				break
			}
		}
		ids = append(ids, id)
		pos += 1 + n + int(size)
	}
	if len(ids) < 2 || ids[len(ids)-1] != 0 {
		t.Fatalf("section ids %v: the name section is not last", ids)
	}
}

// TestLinkEntries: the entry table holds one entry per exported function,
// in export section order; RefFunction returns each as a non-null funcref
// and traps one past the last; the depth counter starts at zero; the
// injected exports stay out of reach of a second rewrite (ErrReserved).
func TestLinkEntries(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	_, err := r.NewHostModuleBuilder(rewrite.RuntimeModule).NewFunctionBuilder().
		WithFunc(func(fuel int64) int64 { return 1000 }).Export(rewrite.TickFunction).Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, info, err := rewrite.Rewrite(guestexamples.Wasm("cpu"), rewrite.Options{Fuel: true, Link: true, InitialFuel: 1000})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mix", "empty", "fib", "work", "spin", "nop", "add"}
	if strings.Join(info.Entries, ",") != strings.Join(want, ",") {
		t.Fatalf("entries %v, want %v", info.Entries, want)
	}
	mod, err := r.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	ref := mod.ExportedFunction(rewrite.RefFunction)
	if ref == nil {
		t.Fatalf("no %s export", rewrite.RefFunction)
	}
	for i := range info.Entries {
		res, err := ref.Call(ctx, uint64(i))
		if err != nil || res[0] == 0 {
			t.Fatalf("%s(%d) = %v, %v; want a funcref", rewrite.RefFunction, i, res, err)
		}
	}
	if _, err := ref.Call(ctx, uint64(len(info.Entries))); err == nil {
		t.Fatalf("%s(%d) did not trap", rewrite.RefFunction, len(info.Entries))
	}
	if d := mod.ExportedGlobal(rewrite.DepthGlobal); d == nil || d.Get() != 0 {
		t.Fatalf("depth global %v", d)
	}
	// The guest's own exports still answer, uncounted.
	if res, err := mod.ExportedFunction("add").Call(ctx, 2, 3); err != nil || res[0] != 5 {
		t.Fatalf("add(2, 3) = %v, %v", res, err)
	}
}
