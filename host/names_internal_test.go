package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
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
