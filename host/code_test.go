package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/wasmhot/wasmhot/host"
)

// snapshot is what the code table holds: per module, the uuids of current
// and old and the sticky flag.
type snapshot map[string][3]string

func snap(h *host.Host) snapshot {
	s := snapshot{}
	for _, m := range h.Modules() {
		var e [3]string
		if m.Current != nil {
			e[0] = m.Current.UUID
		}
		if m.Old != nil {
			e[1] = m.Old.UUID
		}
		e[2] = fmt.Sprint(m.Sticky)
		s[m.Name] = e
	}
	return s
}

func TestCodeOperations(t *testing.T) {
	ctx := context.Background()
	type result struct {
		val any
		err error
	}
	tests := []struct {
		name string
		// setup loads what the case starts from; op is the operation under test.
		setup   func(t *testing.T, h *host.Host)
		op      func(h *host.Host) result
		want    any   // expected value (nil: not checked)
		wantErr error // expected error (nil: none)
		// changes says whether the code table must differ after op.
		changes bool
		check   func(t *testing.T, h *host.Host)
	}{
		{
			name:  "load first version",
			setup: func(t *testing.T, h *host.Host) {},
			op: func(h *host.Host) result {
				vi, err := h.Load(ctx, "counter", wasm("counter_v1"))
				return result{vi.Vsn, err}
			},
			want: uint64(1), changes: true,
			check: func(t *testing.T, h *host.Host) {
				if v := call1(t, h, "counter", "version"); v != 1 {
					t.Errorf("version() = %d, want 1", v)
				}
			},
		},
		{
			name:  "load second version makes the first old",
			setup: func(t *testing.T, h *host.Host) { mustLoad(t, h, "counter", "counter_v1") },
			op: func(h *host.Host) result {
				vi, err := h.Load(ctx, "counter", wasm("counter_v2"))
				return result{vi.Vsn, err}
			},
			want: uint64(2), changes: true,
			check: func(t *testing.T, h *host.Host) {
				m, _ := h.Which("counter")
				if m.Current.Vsn != 2 || m.Old == nil || m.Old.Vsn != 1 {
					t.Errorf("which: %+v", m)
				}
				if v := call1(t, h, "counter", "version"); v != 2 {
					t.Errorf("version() = %d, want 2", v)
				}
			},
		},
		{
			name: "load while old exists is not purged",
			setup: func(t *testing.T, h *host.Host) {
				mustLoad(t, h, "counter", "counter_v1")
				mustLoad(t, h, "counter", "counter_v2")
			},
			op: func(h *host.Host) result {
				_, err := h.Load(ctx, "counter", wasm("counter_v3"))
				return result{nil, err}
			},
			wantErr: host.ErrNotPurged,
		},
		{
			name: "reload purges then loads",
			setup: func(t *testing.T, h *host.Host) {
				mustLoad(t, h, "counter", "counter_v1")
				mustLoad(t, h, "counter", "counter_v2")
			},
			op: func(h *host.Host) result {
				vi, _, err := h.Reload(ctx, "counter", wasm("counter_v3"))
				return result{vi.Vsn, err}
			},
			want: uint64(3), changes: true,
			check: func(t *testing.T, h *host.Host) {
				m, _ := h.Which("counter")
				if m.Old == nil || m.Old.Vsn != 2 {
					t.Errorf("old after reload: %+v", m.Old)
				}
			},
		},
		{
			name: "soft purge without holders frees old",
			setup: func(t *testing.T, h *host.Host) {
				mustLoad(t, h, "counter", "counter_v1")
				mustLoad(t, h, "counter", "counter_v2")
			},
			op: func(h *host.Host) result {
				ok, err := h.SoftPurge(ctx, "counter")
				return result{ok, err}
			},
			want: true, changes: true,
			check: func(t *testing.T, h *host.Host) {
				if m, _ := h.Which("counter"); m.Old != nil {
					t.Errorf("old still there: %+v", m.Old)
				}
			},
		},
		{
			name:  "soft purge of a module with no old code",
			setup: func(t *testing.T, h *host.Host) { mustLoad(t, h, "counter", "counter_v1") },
			op: func(h *host.Host) result {
				ok, err := h.SoftPurge(ctx, "counter")
				return result{ok, err}
			},
			want: true,
		},
		{
			name: "purge without processes kills nobody",
			setup: func(t *testing.T, h *host.Host) {
				mustLoad(t, h, "counter", "counter_v1")
				mustLoad(t, h, "counter", "counter_v2")
			},
			op: func(h *host.Host) result {
				r, err := h.Purge(ctx, "counter")
				return result{r.KilledAny(), err}
			},
			want: false, changes: true,
		},
		{
			name:  "purge of an unknown module",
			setup: func(t *testing.T, h *host.Host) {},
			op: func(h *host.Host) result {
				r, err := h.Purge(ctx, "nothing")
				return result{r.KilledAny(), err}
			},
			want: false,
		},
		{
			name:  "delete makes current old and calls undef",
			setup: func(t *testing.T, h *host.Host) { mustLoad(t, h, "counter", "counter_v1") },
			op: func(h *host.Host) result {
				ok, err := h.Delete(ctx, "counter")
				return result{ok, err}
			},
			want: true, changes: true,
			check: func(t *testing.T, h *host.Host) {
				if _, err := h.Call(ctx, "counter", "version"); !errors.Is(err, host.ErrUndef) {
					t.Errorf("call after delete: %v, want undef", err)
				}
				m, _ := h.Which("counter")
				if m.Current != nil || m.Old == nil {
					t.Errorf("which after delete: %+v", m)
				}
			},
		},
		{
			name: "delete while old exists is refused",
			setup: func(t *testing.T, h *host.Host) {
				mustLoad(t, h, "counter", "counter_v1")
				mustLoad(t, h, "counter", "counter_v2")
			},
			op: func(h *host.Host) result {
				ok, err := h.Delete(ctx, "counter")
				return result{ok, err}
			},
			want: false,
		},
		{
			name:  "delete of a module not loaded",
			setup: func(t *testing.T, h *host.Host) {},
			op: func(h *host.Host) result {
				ok, err := h.Delete(ctx, "counter")
				return result{ok, err}
			},
			want: false,
		},
		{
			name:  "call of a function the version lacks is undef",
			setup: func(t *testing.T, h *host.Host) { mustLoad(t, h, "counter", "counter_v2") },
			op: func(h *host.Host) result {
				_, err := h.Call(ctx, "counter", "gone")
				return result{nil, err}
			},
			wantErr: host.ErrUndef,
		},
		{
			name:  "call of a module not loaded is undef",
			setup: func(t *testing.T, h *host.Host) {},
			op: func(h *host.Host) result {
				_, err := h.Call(ctx, "nobody", "f")
				return result{nil, err}
			},
			wantErr: host.ErrUndef,
		},
		{
			name:  "call with the wrong number of arguments is bad arity",
			setup: func(t *testing.T, h *host.Host) { mustLoad(t, h, "counter", "counter_v1") },
			op: func(h *host.Host) result {
				_, err := h.Call(ctx, "counter", "add", 1)
				return result{nil, err}
			},
			wantErr: host.ErrBadArity,
		},
		{
			name: "reload of a sticky module",
			setup: func(t *testing.T, h *host.Host) {
				if err := h.AtomicLoad(ctx, host.Source{Name: "counter", Wasm: wasm("counter_v1"), Sticky: true}); err != nil {
					t.Fatal(err)
				}
			},
			op: func(h *host.Host) result {
				_, _, err := h.Reload(ctx, "counter", wasm("counter_v2"))
				return result{nil, err}
			},
			wantErr: host.ErrSticky,
		},
		{
			name: "load over a sticky module",
			setup: func(t *testing.T, h *host.Host) {
				mustLoad(t, h, "counter", "counter_v1")
				if err := h.SetSticky("counter", true); err != nil {
					t.Fatal(err)
				}
			},
			op: func(h *host.Host) result {
				_, err := h.Load(ctx, "counter", wasm("counter_v2"))
				return result{nil, err}
			},
			wantErr: host.ErrSticky,
		},
		{
			name: "delete of a sticky module",
			setup: func(t *testing.T, h *host.Host) {
				mustLoad(t, h, "counter", "counter_v1")
				if err := h.SetSticky("counter", true); err != nil {
					t.Fatal(err)
				}
			},
			op: func(h *host.Host) result {
				_, err := h.Delete(ctx, "counter")
				return result{nil, err}
			},
			wantErr: host.ErrSticky,
		},
	}
	for _, name := range []string{"", "Counter", "9lives", "../x", "a/b", "a-b", "counter.wasm", "é", string(make([]byte, 65))} {
		tests = append(tests, struct {
			name    string
			setup   func(t *testing.T, h *host.Host)
			op      func(h *host.Host) result
			want    any
			wantErr error
			changes bool
			check   func(t *testing.T, h *host.Host)
		}{
			name:  fmt.Sprintf("bad name %q", name),
			setup: func(t *testing.T, h *host.Host) { mustLoad(t, h, "counter", "counter_v1") },
			op: func(h *host.Host) result {
				_, err := h.Load(ctx, name, wasm("counter_v2"))
				return result{nil, err}
			},
			wantErr: host.ErrBadName,
		})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, host.NewConfig().WithLog(nil))
			tc.setup(t, h)
			before := snap(h)
			res := tc.op(h)
			if tc.wantErr != nil {
				if !errors.Is(res.err, tc.wantErr) {
					t.Fatalf("error %v, want %v", res.err, tc.wantErr)
				}
			} else if res.err != nil {
				t.Fatalf("unexpected error: %v", res.err)
			}
			if tc.want != nil && !reflect.DeepEqual(res.val, tc.want) {
				t.Errorf("got %v, want %v", res.val, tc.want)
			}
			after := snap(h)
			if changed := !reflect.DeepEqual(before, after); changed != tc.changes {
				t.Errorf("code table changed=%v, want %v\nbefore %v\nafter  %v", changed, tc.changes, before, after)
			}
			if tc.check != nil {
				tc.check(t, h)
			}
		})
	}
}

func TestBadLoadChangesNothing(t *testing.T) {
	ctx := context.Background()
	v1 := wasm("counter_v1")
	bad := map[string]host.Source{
		"garbage":          {Name: "counter", Wasm: []byte("this is not a wasm module")},
		"empty":            {Name: "counter", Wasm: nil},
		"truncated":        {Name: "counter", Wasm: v1[:len(v1)/2]},
		"unknown import":   {Name: "counter", Wasm: wasm("bad_import")},
		"wrong abi type":   {Name: "counter", Wasm: wasm("bad_abi")},
		"start that traps": {Name: "counter", Wasm: wasm("start_trap")},
	}
	for name, src := range bad {
		t.Run(name, func(t *testing.T) {
			h := newHost(t, host.NewConfig().WithLog(nil))
			mustLoad(t, h, "counter", "counter_v1")
			mustLoad(t, h, "counter", "counter_v2")
			if _, err := h.SoftPurge(ctx, "counter"); err != nil {
				t.Fatal(err)
			}
			mustLoad(t, h, "other", "counter_v1")
			mustLoad(t, h, "other", "counter_v2") // other has old code
			before := snap(h)

			_, _, err := h.Reload(ctx, src.Name, src.Wasm)
			if !errors.Is(err, host.ErrBadModule) {
				t.Errorf("reload: %v, want bad module", err)
			}
			if _, err := h.Load(ctx, src.Name, src.Wasm); !errors.Is(err, host.ErrBadModule) {
				t.Errorf("load: %v, want bad module", err)
			}
			// A batch with one bad module loads nothing, not even the good one.
			err = h.AtomicLoad(ctx, host.Source{Name: "fresh", Wasm: v1}, src)
			if !errors.Is(err, host.ErrBadModule) {
				t.Errorf("atomic load: %v, want bad module", err)
			}
			if after := snap(h); !reflect.DeepEqual(before, after) {
				t.Errorf("code table changed\nbefore %v\nafter  %v", before, after)
			}
			if v := call1(t, h, "counter", "version"); v != 2 {
				t.Errorf("counter version() = %d after bad load, want 2", v)
			}
		})
	}
}

func TestAtomicLoadNotPurgedLoadsNothing(t *testing.T) {
	ctx := context.Background()
	h := newHost(t, host.NewConfig().WithLog(nil))
	mustLoad(t, h, "a", "counter_v1")
	mustLoad(t, h, "b", "counter_v1")
	mustLoad(t, h, "b", "counter_v2") // b has old code
	before := snap(h)
	err := h.AtomicLoad(ctx, host.Source{Name: "a", Wasm: wasm("counter_v2")}, host.Source{Name: "b", Wasm: wasm("counter_v3")})
	if !errors.Is(err, host.ErrNotPurged) {
		t.Fatalf("atomic load: %v, want not purged", err)
	}
	if after := snap(h); !reflect.DeepEqual(before, after) {
		t.Fatalf("code table changed\nbefore %v\nafter  %v", before, after)
	}
	// A prepared batch that failed to finish can be finished after a purge.
	p, err := h.Prepare(ctx, host.Source{Name: "a", Wasm: wasm("counter_v2")}, host.Source{Name: "b", Wasm: wasm("counter_v3")})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Finish(ctx, p); !errors.Is(err, host.ErrNotPurged) {
		t.Fatalf("finish: %v, want not purged", err)
	}
	if _, err := h.Purge(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := h.Finish(ctx, p); err != nil {
		t.Fatalf("finish after purge: %v", err)
	}
	if a, b := call1(t, h, "a", "version"), call1(t, h, "b", "version"); a != 2 || b != 3 {
		t.Fatalf("versions a=%d b=%d, want 2 and 3", a, b)
	}
}

func TestCallBytes(t *testing.T) {
	ctx := context.Background()
	h := newHost(t, host.NewConfig().WithLog(nil))
	mustLoad(t, h, "counter", "counter_v1")
	out, err := h.CallBytes(ctx, "counter", "echo", []byte("hello"))
	if err != nil || string(out) != "v1:hello" {
		t.Fatalf("echo: %q, %v", out, err)
	}
	big := make([]byte, 200_000) // needs memory.grow in alloc
	out, err = h.CallBytes(ctx, "counter", "echo", big)
	if err != nil || len(out) != len(big)+3 {
		t.Fatalf("echo of %d bytes: %d bytes, %v", len(big), len(out), err)
	}
	if _, err := h.CallBytes(ctx, "counter", "wild", []byte("x")); !errors.Is(err, host.ErrBadResult) {
		t.Errorf("wild result: %v, want bad result", err)
	}
	if _, err := h.CallBytes(ctx, "counter", "add", []byte("x")); !errors.Is(err, host.ErrBadArity) {
		t.Errorf("non-bytes function: %v, want bad arity", err)
	}
	mustLoad(t, h, "counter", "counter_v2")
	if out, err := h.CallBytes(ctx, "counter", "echo", []byte("hi")); err != nil || string(out) != "v2:hi" {
		t.Fatalf("echo after reload: %q, %v", out, err)
	}
}

func TestTrapDiscardsInstance(t *testing.T) {
	ctx := context.Background()
	h := newHost(t, host.NewConfig().WithLog(nil))
	mustLoad(t, h, "counter", "counter_v1")
	if _, err := h.Call(ctx, "counter", "trap"); !errors.Is(err, host.ErrTrap) {
		t.Fatalf("trap: %v, want ErrTrap", err)
	}
	if v := call1(t, h, "counter", "add", 2, 3); v != 5 {
		t.Fatalf("add after trap = %d", v)
	}
}

func TestCompilationCacheDir(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		h := newHost(t, host.NewConfig().WithCompilationCacheDir(dir).WithLog(nil))
		mustLoad(t, h, "counter", "counter_v1")
		if v := call1(t, h, "counter", "version"); v != 1 {
			t.Fatalf("restart %d: version %d", i, v)
		}
		if err := h.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("cache dir empty: %v %v", entries, err)
	}
}
