package modules

import (
	"bytes"
	"testing"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/rewrite"
)

// TestRewriteCache: a second rewrite of the same bytes is the first one's
// output, equal to a fresh rewrite; a failed rewrite is not kept; past its
// budget the cache forgets the least recently used output.
func TestRewriteCache(t *testing.T) {
	opts := rewrite.Options{Fuel: true, InitialFuel: 1000, Link: true, External: func(string) bool { return true }}
	a, b := guestexamples.Wasm("counter_v1"), guestexamples.Wasm("counter_v2")
	fresh, _, err := rewrite.Rewrite(a, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := newRewriteCache(1 << 20)
	out1, info1, err := c.rewrite(a, opts)
	if err != nil || !bytes.Equal(out1, fresh) {
		t.Fatalf("first rewrite: %v, equal to a fresh one %v", err, bytes.Equal(out1, fresh))
	}
	out2, info2, err := c.rewrite(append([]byte(nil), a...), opts)
	if err != nil || &out2[0] != &out1[0] || info2.Functions != info1.Functions {
		t.Fatalf("second rewrite of the same bytes: %v, cached %v", err, &out2[0] == &out1[0])
	}
	if _, _, err := c.rewrite([]byte("not wasm"), opts); err == nil {
		t.Fatal("garbage rewritten")
	}
	if len(c.byKey) != 1 {
		t.Fatalf("%d entries after a failed rewrite, want 1", len(c.byKey))
	}

	// A budget for one output of a: b's output evicts it.
	small := newRewriteCache(len(out1) + 1)
	pa, _, _ := small.rewrite(a, opts)
	small.rewrite(b, opts)
	if again, _, _ := small.rewrite(a, opts); &again[0] == &pa[0] {
		t.Fatal("a was kept past the budget")
	}
	if small.size > small.max || small.order.Len() != len(small.byKey) {
		t.Fatalf("size %d of %d, %d in order, %d by key", small.size, small.max, small.order.Len(), len(small.byKey))
	}
}
