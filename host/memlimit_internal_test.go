package host

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestLimitFor(t *testing.T) {
	const base = 576 << 20
	for _, c := range []struct {
		rss, goMapped, want int64
	}{
		{rss: 300 << 20, goMapped: 300 << 20, want: base},              // nothing outside
		{rss: 200 << 20, goMapped: 300 << 20, want: base},              // part of the runtime's memory not resident
		{rss: 400 << 20, goMapped: 300 << 20, want: base - 100<<20},    // 100 MiB outside
		{rss: 1000 << 20, goMapped: 100 << 20, want: base / 4},         // never below a quarter
		{rss: 100<<20 + base*3/4, goMapped: 100 << 20, want: base / 4}, // exactly the floor
	} {
		if got := limitFor(base, c.rss, c.goMapped); got != c.want {
			t.Errorf("limitFor(%d, rss %d, go %d) = %d, want %d", base, c.rss, c.goMapped, got, c.want)
		}
	}
}

// The limit is followed while hosts run and restored when the last one
// stops; without a limit, nothing is followed.
func TestFollowMemoryLimit(t *testing.T) {
	if _, ok := residentBytes(); !ok {
		t.Skip("no resident size to read here")
	}
	old := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(old)

	unfollow := followMemoryLimit()
	if memLimit.users != 0 {
		t.Fatalf("%d users of the limit without a limit, want 0", memLimit.users)
	}
	unfollow()

	const base = 1 << 40
	debug.SetMemoryLimit(base)
	a, b := followMemoryLimit(), followMemoryLimit()
	if memLimit.users != 2 || memLimit.base != base {
		t.Fatalf("users %d, base %d; want 2, %d", memLimit.users, memLimit.base, int64(base))
	}
	a()
	a() // once per host
	if memLimit.users != 1 {
		t.Fatalf("users %d after one stopped, want 1", memLimit.users)
	}
	if l := debug.SetMemoryLimit(-1); l > base || l < base/4 {
		t.Fatalf("limit %d while followed, want within [%d, %d]", l, int64(base/4), int64(base))
	}
	b()
	if memLimit.users != 0 {
		t.Fatalf("users %d after both stopped, want 0", memLimit.users)
	}
	if l := debug.SetMemoryLimit(-1); l != base {
		t.Fatalf("limit %d after the last host, want %d restored", l, int64(base))
	}
}
