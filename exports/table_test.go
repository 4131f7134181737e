package exports_test

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wasmhot/wasmhot/exports"
)

// entry is the test's entry type: it records the generation (the publish
// number) and the name it was published under, so that a reader can tell
// which publish an entry it sees came from.
type entry struct {
	gen uint64
	fn  string
}

func entries(gen uint64, fns ...string) map[string]*entry {
	m := make(map[string]*entry, len(fns))
	for _, fn := range fns {
		m[fn] = &entry{gen: gen, fn: fn}
	}
	return m
}

func TestResolveStableSlots(t *testing.T) {
	tab := exports.New[entry]()
	a := tab.Resolve("m", "f")
	if a == nil {
		t.Fatal("Resolve returned nil")
	}
	if a.Module != "m" || a.Function != "f" {
		t.Fatalf("slot names %q:%q, want m:f", a.Module, a.Function)
	}
	tests := []struct {
		name     string
		module   string
		function string
		same     bool
	}{
		{"same name", "m", "f", true},
		{"other function", "m", "g", false},
		{"other module", "n", "f", false},
		{"swapped", "f", "m", false},
		{"empty function", "m", "", false},
		{"empty module", "", "f", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tab.Resolve(tc.module, tc.function)
			if got := s == a; got != tc.same {
				t.Fatalf("Resolve(%q, %q) == Resolve(m, f): %v, want %v", tc.module, tc.function, got, tc.same)
			}
			if s.Module != tc.module || s.Function != tc.function {
				t.Fatalf("slot names %q:%q, want %q:%q", s.Module, s.Function, tc.module, tc.function)
			}
			if again := tab.Resolve(tc.module, tc.function); again != s {
				t.Fatal("second Resolve returned a different slot")
			}
		})
	}

	// Slots survive publishes, including ones that create new slots and
	// ones that delete the module.
	tab.Publish(exports.Update[entry]{Module: "m", Entries: entries(1, "f", "h", "i")})
	tab.Publish(exports.Update[entry]{Module: "m"})
	tab.Publish(exports.Update[entry]{Module: "m", Entries: entries(3, "f")})
	if tab.Resolve("m", "f") != a {
		t.Fatal("slot changed across publishes")
	}
	if e := a.Lookup(); e == nil || e.gen != 3 {
		t.Fatalf("Lookup = %+v, want gen 3", e)
	}
}

func TestResolveConcurrent(t *testing.T) {
	tab := exports.New[entry]()
	const goroutines = 8
	const names = 200
	got := make([][]*exports.Slot[entry], goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[g] = make([]*exports.Slot[entry], names)
			// Each goroutine resolves in a different order: a rotation,
			// reversed for odd goroutines.
			for i := range names {
				j := (i + g*37) % names
				if g%2 == 1 {
					j = names - 1 - j
				}
				got[g][j] = tab.Resolve(fmt.Sprintf("m%d", j%7), fmt.Sprintf("f%d", j))
			}
		}()
	}
	wg.Wait()
	for g := 1; g < goroutines; g++ {
		for j := range names {
			if got[g][j] != got[0][j] {
				t.Fatalf("goroutine %d got a different slot for name %d", g, j)
			}
		}
	}
	seen := map[*exports.Slot[entry]]bool{}
	for _, s := range got[0] {
		if seen[s] {
			t.Fatalf("two names share slot %s:%s", s.Module, s.Function)
		}
		seen[s] = true
	}
}

func TestLookupUndefBeforePublish(t *testing.T) {
	tab := exports.New[entry]()
	s := tab.Resolve("m", "f")
	if e := s.Lookup(); e != nil {
		t.Fatalf("Lookup before any publish = %+v, want nil", e)
	}
	// Publishing another module does not define m:f.
	tab.Publish(exports.Update[entry]{Module: "other", Entries: entries(1, "f")})
	if e := s.Lookup(); e != nil {
		t.Fatalf("Lookup after publishing another module = %+v, want nil", e)
	}
	// Publishing m without f does not define m:f.
	tab.Publish(exports.Update[entry]{Module: "m", Entries: entries(2, "g")})
	if e := s.Lookup(); e != nil {
		t.Fatalf("Lookup after publishing m without f = %+v, want nil", e)
	}
	// A slot resolved after the last publish, beyond the published chunks,
	// is undef too.
	for i := range 200 {
		late := tab.Resolve("late", fmt.Sprint("f", i))
		if e := late.Lookup(); e != nil {
			t.Fatalf("Lookup of slot resolved after publish = %+v, want nil", e)
		}
	}
	tab.Publish(exports.Update[entry]{Module: "m", Entries: entries(3, "f")})
	if e := s.Lookup(); e == nil || e.gen != 3 || e.fn != "f" {
		t.Fatalf("Lookup after publish = %+v, want gen 3 f", e)
	}
}

func TestPublishCreatesSlots(t *testing.T) {
	tab := exports.New[entry]()
	tab.Publish(exports.Update[entry]{Module: "m", Entries: entries(1, "f", "g")})
	for _, fn := range []string{"f", "g"} {
		if e := tab.Resolve("m", fn).Lookup(); e == nil || e.fn != fn || e.gen != 1 {
			t.Fatalf("m:%s after publish = %+v, want gen 1", fn, e)
		}
	}
	if e := tab.Resolve("m", "h").Lookup(); e != nil {
		t.Fatalf("unexported m:h = %+v, want nil", e)
	}
}

func TestPublishExportSets(t *testing.T) {
	type step struct {
		updates []exports.Update[entry]
		want    map[string]uint64 // "module:function" -> gen; absent: undef
	}
	names := []string{"a:f", "a:g", "a:h", "b:f", "b:g", "c:x"}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "names missing from a new set become undef",
			steps: []step{
				{[]exports.Update[entry]{{Module: "a", Entries: entries(1, "f", "g", "h")}},
					map[string]uint64{"a:f": 1, "a:g": 1, "a:h": 1}},
				{[]exports.Update[entry]{{Module: "a", Entries: entries(2, "f")}},
					map[string]uint64{"a:f": 2}},
				{[]exports.Update[entry]{{Module: "a", Entries: entries(3, "g", "h")}},
					map[string]uint64{"a:g": 3, "a:h": 3}},
			},
		},
		{
			name: "nil entries delete the module",
			steps: []step{
				{[]exports.Update[entry]{{Module: "a", Entries: entries(1, "f", "g", "h")}, {Module: "b", Entries: entries(1, "f", "g")}},
					map[string]uint64{"a:f": 1, "a:g": 1, "a:h": 1, "b:f": 1, "b:g": 1}},
				{[]exports.Update[entry]{{Module: "a"}},
					map[string]uint64{"b:f": 1, "b:g": 1}},
				{[]exports.Update[entry]{{Module: "a", Entries: entries(3, "h")}},
					map[string]uint64{"a:h": 3, "b:f": 1, "b:g": 1}},
			},
		},
		{
			name: "empty entries delete the module",
			steps: []step{
				{[]exports.Update[entry]{{Module: "a", Entries: entries(1, "f", "g")}},
					map[string]uint64{"a:f": 1, "a:g": 1}},
				{[]exports.Update[entry]{{Module: "a", Entries: map[string]*entry{}}},
					map[string]uint64{}},
			},
		},
		{
			name: "other modules are untouched",
			steps: []step{
				{[]exports.Update[entry]{{Module: "a", Entries: entries(1, "f")}, {Module: "b", Entries: entries(1, "f")}, {Module: "c", Entries: entries(1, "x")}},
					map[string]uint64{"a:f": 1, "b:f": 1, "c:x": 1}},
				{[]exports.Update[entry]{{Module: "b", Entries: entries(2, "g")}},
					map[string]uint64{"a:f": 1, "b:g": 2, "c:x": 1}},
				{[]exports.Update[entry]{{Module: "c"}, {Module: "a", Entries: entries(3, "f", "g")}},
					map[string]uint64{"a:f": 3, "a:g": 3, "b:g": 2}},
			},
		},
		{
			name: "delete of a module never published",
			steps: []step{
				{[]exports.Update[entry]{{Module: "a"}}, map[string]uint64{}},
				{[]exports.Update[entry]{{Module: "b", Entries: entries(2, "f")}}, map[string]uint64{"b:f": 2}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := exports.New[entry]()
			// Resolve every name first, in a fixed order, so that slots exist
			// before the first publish as well as being created by it.
			slots := map[string]*exports.Slot[entry]{}
			for _, n := range names {
				mod, fn, _ := strings.Cut(n, ":")
				slots[n] = tab.Resolve(mod, fn)
			}
			for i, st := range tc.steps {
				seq := tab.Publish(st.updates...)
				if seq != uint64(i+1) {
					t.Fatalf("step %d: Publish returned seq %d, want %d", i, seq, i+1)
				}
				for _, n := range names {
					e := slots[n].Lookup()
					want, defined := st.want[n]
					switch {
					case !defined && e != nil:
						t.Errorf("step %d: %s = %+v, want undef", i, n, e)
					case defined && e == nil:
						t.Errorf("step %d: %s undef, want gen %d", i, n, want)
					case defined && (e.gen != want || e.fn != slots[n].Function):
						t.Errorf("step %d: %s = %+v, want gen %d", i, n, e, want)
					}
				}
			}
		})
	}
}

func TestChunkBoundaries(t *testing.T) {
	for _, n := range []int{1, 63, 64, 65, 128, 129, 1000, 1001, 1500} {
		t.Run(fmt.Sprint("slots=", n), func(t *testing.T) {
			tab := exports.New[entry]()
			// Two modules interleaved, so that each chunk holds slots of both.
			fns := make([]string, n)
			slots := map[string][]*exports.Slot[entry]{}
			for i := range n {
				fns[i] = fmt.Sprint("f", i)
				for _, m := range []string{"a", "b"} {
					slots[m] = append(slots[m], tab.Resolve(m, fns[i]))
				}
			}
			check := func(step string, want map[string]func(i int) (uint64, bool)) {
				t.Helper()
				for m, ss := range slots {
					for i, s := range ss {
						gen, defined := want[m](i)
						e := s.Lookup()
						switch {
						case !defined && e != nil:
							t.Fatalf("%s: %s:%s = %+v, want undef", step, m, fns[i], e)
						case defined && e == nil:
							t.Fatalf("%s: %s:%s undef, want gen %d", step, m, fns[i], gen)
						case defined && (e.gen != gen || e.fn != fns[i]):
							t.Fatalf("%s: %s:%s = %+v, want gen %d", step, m, fns[i], e, gen)
						}
					}
				}
			}
			undef := func(int) (uint64, bool) { return 0, false }
			check("before publish", map[string]func(int) (uint64, bool){"a": undef, "b": undef})

			tab.Publish(exports.Update[entry]{Module: "a", Entries: entries(1, fns...)})
			all := func(gen uint64) func(int) (uint64, bool) {
				return func(int) (uint64, bool) { return gen, true }
			}
			check("publish a", map[string]func(int) (uint64, bool){"a": all(1), "b": undef})

			tab.Publish(exports.Update[entry]{Module: "b", Entries: entries(2, fns...)})
			check("publish b", map[string]func(int) (uint64, bool){"a": all(1), "b": all(2)})

			// Keep every third name of a.
			var some []string
			for i := 0; i < n; i += 3 {
				some = append(some, fns[i])
			}
			tab.Publish(exports.Update[entry]{Module: "a", Entries: entries(3, some...)})
			everyThird := func(i int) (uint64, bool) { return 3, i%3 == 0 }
			check("a every third", map[string]func(int) (uint64, bool){"a": everyThird, "b": all(2)})

			tab.Publish(exports.Update[entry]{Module: "b"})
			check("delete b", map[string]func(int) (uint64, bool){"a": everyThird, "b": undef})

			// A slot created beyond the last chunk by a later Resolve is
			// undef, then defined by the next publish.
			extra := tab.Resolve("a", "extra")
			if e := extra.Lookup(); e != nil {
				t.Fatalf("new slot = %+v, want undef", e)
			}
			tab.Publish(exports.Update[entry]{Module: "a", Entries: entries(5, append(some, "extra")...)})
			if e := extra.Lookup(); e == nil || e.gen != 5 {
				t.Fatalf("a:extra = %+v, want gen 5", e)
			}
			check("republish a", map[string]func(int) (uint64, bool){
				"a": func(i int) (uint64, bool) { return 5, i%3 == 0 },
				"b": undef,
			})
		})
	}
}

func TestManyModules(t *testing.T) {
	// Slots of 1000 modules spread over many chunks; switching one module at
	// a time leaves every other module's entries alone.
	const mods = 1000
	tab := exports.New[entry]()
	gens := make([]uint64, mods)
	var ups []exports.Update[entry]
	for m := range mods {
		ups = append(ups, exports.Update[entry]{Module: fmt.Sprint("m", m), Entries: entries(1, "x", "y", "z")})
		gens[m] = 1
	}
	tab.Publish(ups...)
	slots := make([][3]*exports.Slot[entry], mods)
	for m := range mods {
		for i, fn := range []string{"x", "y", "z"} {
			slots[m][i] = tab.Resolve(fmt.Sprint("m", m), fn)
		}
	}
	for i := range 300 {
		m := (i * 337) % mods
		seq := tab.Publish(exports.Update[entry]{Module: fmt.Sprint("m", m), Entries: entries(uint64(i+2), "x", "y", "z")})
		gens[m] = seq
		if seq != uint64(i+2) {
			t.Fatalf("seq %d, want %d", seq, i+2)
		}
	}
	for m := range mods {
		for i, s := range slots[m] {
			if e := s.Lookup(); e == nil || e.gen != gens[m] {
				t.Fatalf("m%d:%d = %+v, want gen %d", m, i, e, gens[m])
			}
		}
	}
}

func TestSeq(t *testing.T) {
	tab := exports.New[entry]()
	if s := tab.Seq(); s != 0 {
		t.Fatalf("Seq of a new table = %d, want 0", s)
	}
	for i := uint64(1); i <= 100; i++ {
		var got uint64
		switch i % 4 {
		case 0:
			got = tab.Publish() // an empty publish is still a generation
		case 1:
			got = tab.Publish(exports.Update[entry]{Module: "a", Entries: entries(i, "f")})
		case 2:
			got = tab.Publish(exports.Update[entry]{Module: "a"})
		case 3:
			got = tab.Publish(exports.Update[entry]{Module: "a", Entries: entries(i, "f")}, exports.Update[entry]{Module: "b", Entries: entries(i, "g")})
		}
		if got != i {
			t.Fatalf("Publish returned %d, want %d", got, i)
		}
		if s := tab.Seq(); s != i {
			t.Fatalf("Seq = %d, want %d", s, i)
		}
	}
	// Resolve does not publish.
	tab.Resolve("c", "h")
	if s := tab.Seq(); s != 100 {
		t.Fatalf("Seq after Resolve = %d, want 100", s)
	}
}

// TestPublishAtomic publishes two modules together, again and again, while
// readers look both up. Each publish gives every entry of both modules the
// same generation number, so a reader that sees entries of different
// generations within one generation has seen half a publish.
//
// A reader cannot load "one generation" through the API (each Lookup loads
// the current one), so it brackets its lookups: it reads a, then b, then a
// again. Generations only move forward and every publish changes a, so when
// both reads of a show the same generation, the table held that generation
// throughout and b must show it too. In every case the generations seen must
// be non-decreasing in the order they were read.
func TestPublishAtomic(t *testing.T) {
	iters := 20000
	if testing.Short() {
		iters = 2000
	}
	tab := exports.New[entry]()
	// Pad between the two modules so that their slots are in different
	// chunks, and give each several functions across a chunk boundary.
	var fns []string
	for i := range 70 {
		fns = append(fns, fmt.Sprint("f", i))
	}
	for i := range 100 {
		tab.Resolve("pad", fmt.Sprint("p", i))
	}
	var aSlots, bSlots []*exports.Slot[entry]
	for _, fn := range fns {
		aSlots = append(aSlots, tab.Resolve("a", fn))
	}
	for i := range 100 {
		tab.Resolve("pad2", fmt.Sprint("p", i))
	}
	for _, fn := range fns {
		bSlots = append(bSlots, tab.Resolve("b", fn))
	}
	// Only the bracketing slots and a sample are read on every round, to
	// keep the readers fast; each round also checks one full snapshot.
	a0, b0 := aSlots[0], bSlots[len(bSlots)-1]

	var (
		stop     atomic.Bool
		mixes    atomic.Int64
		backward atomic.Int64
		checked  atomic.Int64
		firstBad atomic.Value
		wg       sync.WaitGroup
	)
	gen := func(e *entry) uint64 {
		if e == nil {
			return 0
		}
		return e.gen
	}
	readers := max(2, runtime.GOMAXPROCS(0)-1)
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				a1 := gen(a0.Lookup())
				// Read every entry of b (or a sample, most rounds) between the
				// two reads of a.
				var bs []uint64
				if i%16 == r%16 {
					for _, s := range bSlots {
						bs = append(bs, gen(s.Lookup()))
					}
					for _, s := range aSlots {
						bs = append(bs, gen(s.Lookup()))
					}
				} else {
					bs = append(bs, gen(b0.Lookup()), gen(bSlots[len(bSlots)/2].Lookup()))
				}
				a2 := gen(a0.Lookup())
				prev := a1
				for _, g := range append(bs, a2) {
					if g < prev {
						backward.Add(1)
						firstBad.CompareAndSwap(nil, fmt.Sprintf("generations went backward: a=%d then %v then a=%d", a1, bs, a2))
					}
					prev = g
				}
				if a1 == a2 {
					checked.Add(1)
					for _, g := range bs {
						if g != a1 {
							mixes.Add(1)
							firstBad.CompareAndSwap(nil, fmt.Sprintf("mixed generations: a=%d, others %v", a1, bs))
							break
						}
					}
				}
			}
		}()
	}

	for i := 1; i <= iters; i++ {
		seq := tab.Publish(
			exports.Update[entry]{Module: "a", Entries: entries(uint64(i), fns...)},
			exports.Update[entry]{Module: "b", Entries: entries(uint64(i), fns...)},
		)
		if seq != uint64(i) {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("Publish returned seq %d, want %d", seq, i)
		}
		if i%64 == 0 {
			runtime.Gosched()
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := mixes.Load() + backward.Load(); n > 0 {
		t.Fatalf("%d inconsistent reads (%d mixes, %d backward); first: %v", n, mixes.Load(), backward.Load(), firstBad.Load())
	}
	if checked.Load() == 0 {
		t.Fatal("no reader round was checked")
	}
	t.Logf("%d publishes, %d reader rounds checked", iters, checked.Load())
}

var sink *entry

func BenchmarkLookup(b *testing.B) {
	tab := exports.New[entry]()
	// A few thousand slots, the benchmarked one in a later chunk.
	for m := range 1000 {
		tab.Publish(exports.Update[entry]{Module: fmt.Sprint("m", m), Entries: entries(1, "x", "y", "z")})
	}
	s := tab.Resolve("m777", "y")
	if s.Lookup() == nil {
		b.Fatal("undef")
	}
	b.ReportAllocs()
	var e *entry
	for b.Loop() {
		e = s.Lookup()
	}
	sink = e
}

func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprint("modules=", n), func(b *testing.B) {
			tab := exports.New[entry]()
			ups := make([]exports.Update[entry], n)
			for m := range n {
				ups[m] = exports.Update[entry]{Module: fmt.Sprint("m", m), Entries: entries(1, "x", "y", "z")}
			}
			tab.Publish(ups...)
			// Switch one module in the middle back and forth between two
			// export sets, as a reload does.
			name := fmt.Sprint("m", n/2)
			sets := [2]map[string]*entry{entries(2, "x", "y", "z"), entries(3, "x", "y", "z")}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tab.Publish(exports.Update[entry]{Module: name, Entries: sets[i&1]})
				i++
			}
		})
	}
}

// Sweep retires the undef, unpinned slots of a module; their indexes go
// to new names, and a holder of a retired slot can tell.
func TestSweep(t *testing.T) {
	tab := exports.New[entry]()
	tab.Publish(exports.Update[entry]{Module: "m", Entries: entries(1, "a", "b", "c")})
	pinned := tab.ResolvePinned("m", "p") // imported, exported by nothing
	tab.Publish(exports.Update[entry]{Module: "m", Entries: entries(2, "a")})
	old := tab.Find("m", "b")
	if n := tab.Len(); n != 4 {
		t.Fatalf("Len = %d, want 4 (a, b, c, p)", n)
	}
	retired := tab.Sweep("m")
	var names []string
	for _, s := range retired {
		names = append(names, s.Function)
		if !s.Retired() {
			t.Errorf("%s returned but not retired", s.Function)
		}
	}
	sort.Strings(names) // a publish makes a module's new slots in map order
	if strings.Join(names, ",") != "b,c" {
		t.Fatalf("retired %v, want b,c", names)
	}
	if tab.Len() != 2 || tab.Find("m", "b") != nil || tab.Find("m", "a") == nil || tab.Find("m", "p") != pinned || pinned.Retired() {
		t.Fatalf("after the sweep: Len %d, b %v, a %v, p %v", tab.Len(), tab.Find("m", "b"), tab.Find("m", "a"), tab.Find("m", "p"))
	}
	// New names take the retired indexes: the table does not grow.
	tab.Publish(exports.Update[entry]{Module: "n", Entries: entries(3, "x", "y")})
	if tab.Len() != 4 {
		t.Errorf("Len = %d after two new names, want 4", tab.Len())
	}
	if e := tab.Find("n", "x").Lookup(); e == nil || e.fn != "x" {
		t.Errorf("n:x = %v", e)
	}
	// The old slot of m:b may now see another name's entry: it is retired.
	if e := old.Lookup(); e != nil && !old.Retired() {
		t.Errorf("a reused index seen through a slot not retired: %v", e)
	}
	// A name exported again gets a new slot.
	tab.Publish(exports.Update[entry]{Module: "m", Entries: entries(4, "a", "b")})
	if s := tab.Find("m", "b"); s == nil || s == old || s.Lookup().fn != "b" {
		t.Errorf("m:b exported again: %v", s)
	}
	tab.Unpin(pinned)
	tab.Publish(exports.Update[entry]{Module: "m"}) // delete
	tab.Sweep("m")
	if tab.Find("m", "p") != nil || tab.Find("m", "a") != nil {
		t.Error("a deleted module's slots survive the sweep")
	}
	if tab.Len() != 2 {
		t.Errorf("Len = %d, want n:x and n:y", tab.Len())
	}
}
