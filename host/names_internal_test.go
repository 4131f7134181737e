package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/internal/wasmbin"
)

// TestNamesDoNotLeak: calls, spawns and Funcs of names nothing exports
// keep nothing in the export table, however many; a name over the limit
// is refused before anything is looked up, and the error quotes only its
// beginning; a Func made before its function exists finds it once loaded.
func TestNamesDoNotLeak(t *testing.T) {
	ctx := context.Background()
	h, err := New(ctx, NewConfig().WithLog(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	if _, err := h.Load(ctx, "counter", guestexamples.Wasm("counter_v1")); err != nil {
		t.Fatal(err)
	}
	early, err := h.Func("later", "version")
	if err != nil {
		t.Fatal(err)
	}
	slots := h.exports.Len()
	for i := range 20000 {
		name := fmt.Sprintf("nope%d", i)
		if _, err := h.Call(ctx, "counter", name); !errors.Is(err, ErrUndef) {
			t.Fatalf("call %s: %v, want undef", name, err)
		}
		if _, err := h.Spawn(ctx, "counter", name, nil); !errors.Is(err, ErrUndef) {
			t.Fatalf("spawn %s: %v, want undef", name, err)
		}
		if _, err := h.Call(ctx, fmt.Sprintf("nomod%d", i), "f"); !errors.Is(err, ErrUndef) {
			t.Fatalf("call of a module not loaded: %v, want undef", err)
		}
	}
	if n := h.exports.Len(); n != slots {
		t.Fatalf("%d slots after 60,000 lookups of unknown names, %d before", n, slots)
	}
	n := 0
	h.slots.Range(func(any, any) bool { n++; return true })
	if n > slots {
		t.Fatalf("%d cached slots for %d in the table", n, slots)
	}

	huge := strings.Repeat("f", 30<<20)
	for _, err := range []error{
		func() error { _, err := h.Call(ctx, "counter", huge); return err }(),
		func() error { _, err := h.Spawn(ctx, "counter", huge, nil); return err }(),
		func() error { _, err := h.Func(huge[:200]+"X", "f"); return err }(),
	} {
		if !errors.Is(err, ErrBadName) || len(err.Error()) > 300 {
			t.Errorf("a huge name: %d-byte error %.300q, want bad name in under 300 bytes", len(err.Error()), err)
		}
	}

	if _, err := h.Load(ctx, "later", guestexamples.Wasm("counter_v1")); err != nil {
		t.Fatal(err)
	}
	if res, err := early.Call(ctx); err != nil || res[0] != 1 {
		t.Fatalf("a Func made before its module was loaded: %v %v", res, err)
	}
}

// namesModule builds a module exporting fns (each () -> i32, returning 7)
// and importing imps from module lib (same type).
func namesModule(fns, imps []string) []byte { return constModule(fns, imps, 7) }

// constModule is namesModule with functions returning val (< 64).
func constModule(fns, imps []string, val byte) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = wasmbin.AppendSection(b, 1, wasmbin.Vec([][]byte{wasmbin.FuncType(nil, []byte{0x7f})}))
	var items [][]byte
	for _, n := range imps {
		items = append(items, append(wasmbin.AppendName(wasmbin.AppendName(nil, "lib"), n), 0x00, 0x00))
	}
	b = wasmbin.AppendSection(b, 2, wasmbin.Vec(items))
	items = nil
	for range fns {
		items = append(items, []byte{0x00})
	}
	b = wasmbin.AppendSection(b, 3, wasmbin.Vec(items))
	items = nil
	for i, n := range fns {
		items = append(items, wasmbin.AppendU32(append(wasmbin.AppendName(nil, n), 0x00), uint32(len(imps)+i)))
	}
	b = wasmbin.AppendSection(b, 7, wasmbin.Vec(items))
	items = nil
	for range fns {
		items = append(items, []byte{4, 0, 0x41, val, 0x0b}) // size, no locals, i32.const val, end
	}
	return wasmbin.AppendSection(b, 10, wasmbin.Vec(items))
}

// TestExportedNamesDoNotLeak: the names a module once exported or
// imported are forgotten once no version exports or imports them (after
// reloads and purges, or delete and purge), so that reloading a module
// with new names again and again does not grow the export table; a Func
// of a forgotten name finds it again when it comes back.
func TestExportedNamesDoNotLeak(t *testing.T) {
	for _, mode := range []Mode{Sandboxed, Trusted} {
		t.Run(mode.String(), func(t *testing.T) {
			ctx := context.Background()
			h, err := New(ctx, NewConfig().WithMode(mode).WithLog(nil))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(ctx)
			keep, err := h.Func("m", "keep")
			if err != nil {
				t.Fatal(err)
			}
			base := h.exports.Len()
			for round := range 50 {
				var fns, imps []string
				for i := range 20 {
					fns = append(fns, fmt.Sprintf("f%d_%d", round, i))
					imps = append(imps, fmt.Sprintf("g%d_%d", round, i))
				}
				fns = append(fns, "keep")
				if _, _, err := h.Reload(ctx, "m", namesModule(fns, imps)); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if res, err := keep.Call(ctx); err != nil || res[0] != 7 {
					t.Fatalf("round %d: m:keep() = %v, %v", round, res, err)
				}
				if res, err := h.Call(ctx, "m", fns[0]); err != nil || res[0] != 7 {
					t.Fatalf("round %d: m:%s() = %v, %v", round, fns[0], res, err)
				}
			}
			// The current version's 21 exports and 20 imports, and at most
			// the old version's (purged at the next reload).
			if n := h.exports.Len() - base; n > 2*41 {
				t.Errorf("%d slots after 50 reloads with new names, want at most %d", n, 2*41)
			}
			h.ext.mu.Lock()
			ids := len(h.ext.ids)
			h.ext.mu.Unlock()
			if ids > 40 {
				t.Errorf("%d ext ids in use after 50 reloads, want at most 40", ids)
			}
			for _, step := range []func() error{
				func() error { _, err := h.Purge(ctx, "m"); return err },
				func() error {
					if ok, err := h.Delete(ctx, "m"); !ok {
						return fmt.Errorf("delete: %v, %v", ok, err)
					}
					return nil
				},
				func() error { _, err := h.Purge(ctx, "m"); return err },
			} {
				if err := step(); err != nil {
					t.Fatal(err)
				}
			}
			if n := h.exports.Len(); n != base {
				t.Errorf("%d slots after delete and purge, %d before", n, base)
			}
			if _, err := keep.Call(ctx); !errors.Is(err, ErrUndef) {
				t.Errorf("m:keep() after delete: %v, want undef", err)
			}
			if _, err := h.Load(ctx, "m", namesModule([]string{"keep"}, nil)); err != nil {
				t.Fatal(err)
			}
			if res, err := keep.Call(ctx); err != nil || res[0] != 7 {
				t.Errorf("m:keep() loaded again: %v, %v", res, err)
			}
		})
	}
}

// TestRetiredSlotsRace: a name retired and its index given to another
// name while callers hold it: a call reaches its own function or is
// undef, never the other name's.
func TestRetiredSlotsRace(t *testing.T) {
	ctx := context.Background()
	h, err := New(ctx, NewConfig().WithLog(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	withA, withoutA := constModule([]string{"a", "x"}, nil, 1), constModule([]string{"x"}, nil, 1)
	if _, err := h.Load(ctx, "m", withA); err != nil {
		t.Fatal(err)
	}
	fa, _ := h.Func("m", "a")
	stop := make(chan struct{})
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				res, err := fa.Call(ctx)
				if err == nil && res[0] != 1 {
					errs <- fmt.Errorf("m:a() = %d: another name's function", res[0])
					return
				}
				if _, err2 := h.Call(ctx, "m", "a"); err2 != nil && !errors.Is(err2, ErrUndef) {
					errs <- err2
					return
				}
			}
		}()
	}
	for i := range 200 {
		// m drops a; n's new names take the retired index; m gets a back.
		if _, _, err := h.Reload(ctx, "m", withoutA); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Purge(ctx, "m"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := h.Reload(ctx, "n", constModule([]string{fmt.Sprintf("b%d", i)}, nil, 2)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := h.Reload(ctx, "m", withA); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
