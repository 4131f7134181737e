package host_test

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/hosttest"
)

type node = hosttest.Node

func newNode(t *testing.T, cfg host.Config) *node { return hosttest.NewNode(t, cfg) }

var waitFor = hosttest.WaitFor

// TestConformance reproduces the behaviour table of Erlang/OTP code loading
// with wasmhot guests; each subtest names its row.
func TestConformance(t *testing.T) {
	rows := append(append([]conformanceRow(nil), conformanceRows...), externalRows...)
	rows = append(append(rows, sysRows...), checkedRows...)
	sort.Slice(rows, func(i, j int) bool {
		a, _ := strconv.Atoi(strings.Split(rows[i].name, "_")[0])
		b, _ := strconv.Atoi(strings.Split(rows[j].name, "_")[0])
		return a < b
	})
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			for _, mode := range []host.Mode{host.Sandboxed, host.Trusted} {
				t.Run(mode.String(), func(t *testing.T) {
					row.run(t, host.NewConfig().WithMode(mode))
				})
			}
		})
	}
}

type conformanceRow struct {
	name string
	run  func(t *testing.T, cfg host.Config)
}

var ctx = context.Background()

var conformanceRows = []conformanceRow{
	{"1_external_self_call_upgrades", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("a", wasm("a_loop_v1"))
		ext := n.Spawn("a", "run", "")
		n.Expect(ext, []string{"p1", "p2"}, "v1 got p1", "v1 got p2")
		n.Receiving(ext) // past the continue("run") that follows its line
		n.Load("a", wasm("a_loop_v2"))
		if !n.Check(ext, "a") {
			t.Error("blocked in v1's receive: check_process_code = false, want true")
		}
		// The message it was blocked on is handled by v1; the
		// continue("run") after it enters v2.
		n.Expect(ext, []string{"p3", "p4", "p5"}, "v1 got p3", "v2 got p4", "v2 got p5")
		if n.Check(ext, "a") {
			t.Error("after the upgrade: check_process_code = true, want false")
		}
		n.Send(ext, "stop")
		if e := n.Exit(ext); e.Reason != host.Normal {
			t.Errorf("exit %v, want normal", e)
		}
	}},
	{"2_local_loop_stays_in_old_code", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("a", wasm("a_loop_v1"))
		loc := n.Spawn("a", "run_local", "")
		n.Expect(loc, []string{"p1"}, "v1 got p1")
		n.Load("a", wasm("a_loop_v2"))
		msgs := make([]string, 100)
		want := make([]string, 100)
		for i := range msgs {
			msgs[i] = "p"
			want[i] = "v1 got p"
		}
		n.Expect(loc, msgs, want...)
		if !n.Check(loc, "a") {
			t.Error("check_process_code = false, want true")
		}
	}},
	{"4_controlled_upgrade_with_state_transform", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("hotfix", wasm("hotfix_v1"))
		srv := n.Spawn("hotfix", "server", "")
		n.Expect(srv, []string{"incr", "get", "incr", "get"}, "v1 count=1", "v1 count=2")
		n.Load("hotfix", wasm("hotfix_v2"))
		n.Expect(srv, []string{"incr", "get", "get"}, "v1 count=3", "v1 count=3")
		if !n.Check(srv, "hotfix") || n.SoftPurge("hotfix") {
			t.Error("before update: want check_process_code true, soft_purge false")
		}
		n.Expect(srv, []string{"update", "get"}, "v2 count=3 from=1")
		n.Expect(srv, []string{"incr", "get"}, "v2 count=13 from=1")
		if n.Check(srv, "hotfix") {
			t.Error("after update: check_process_code = true")
		}
		if !n.SoftPurge("hotfix") {
			t.Error("after update: soft_purge = false")
		}
		// A second update with no new code keeps the state.
		n.Expect(srv, []string{"update", "get"}, "v2 count=13 from=1")
		n.Send(srv, "stop")
		if e := n.Exit(srv); e.Reason != host.Normal {
			t.Errorf("exit %v, want normal", e)
		}
	}},
	{"5_load_while_old_exists_is_not_purged", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("a", wasm("a_loop_v1"))
		p1 := n.Spawn("a", "run_local", "")
		n.Load("a", wasm("a_loop_v2"))
		p2 := n.Spawn("a", "run_local", "")
		before := snap(n.H)
		_, err := n.H.Load(ctx, "a", wasm("a_loop_v3"))
		if !errors.Is(err, host.ErrNotPurged) {
			t.Fatalf("load v3: %v, want not purged", err)
		}
		if err := n.H.AtomicLoad(ctx, host.Source{Name: "a", Wasm: wasm("a_loop_v3")}); !errors.Is(err, host.ErrNotPurged) {
			t.Fatalf("atomic load v3: %v, want not purged", err)
		}
		if after := snap(n.H); !reflect.DeepEqual(before, after) {
			t.Fatalf("code table changed: %v -> %v", before, after)
		}
		n.Expect(p1, []string{"x"}, "v1 got x")
		n.Expect(p2, []string{"x"}, "v2 got x")
	}},
	{"6_third_load_purges_oldest_and_kills", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("a", wasm("a_loop_v1"))
		p1 := n.Spawn("a", "run_local", "")
		n.Load("a", wasm("a_loop_v2"))
		p2 := n.Spawn("a", "run_local", "")
		mon, err := n.H.Monitor(p1)
		if err != nil {
			t.Fatal(err)
		}
		vi, res, err := n.H.Reload(ctx, "a", wasm("a_loop_v3"))
		if err != nil || vi.Vsn != 3 || !res.KilledAny() {
			t.Fatalf("reload: vsn %d, %+v, %v", vi.Vsn, res, err)
		}
		select {
		case e := <-mon:
			if e.Reason != host.Killed {
				t.Errorf("P1 exit %v, want killed", e)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("P1 not killed")
		}
		n.Expect(p2, []string{"x"}, "v2 got x")
		p3 := n.Spawn("a", "run_local", "")
		n.Expect(p3, []string{"x"}, "v3 got x")
	}},
	{"7_soft_purge_with_lingering_process", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("a", wasm("a_loop_v1"))
		loc := n.Spawn("a", "run_local", "")
		n.Load("a", wasm("a_loop_v2"))
		if n.SoftPurge("a") {
			t.Fatal("soft_purge = true, want false")
		}
		if m, _ := n.H.Which("a"); m.Old == nil || m.Old.Lingering != 1 {
			t.Fatalf("old code after soft purge: %+v", m.Old)
		}
		n.Expect(loc, []string{"x"}, "v1 got x")
	}},
	{"8_purge_kills_lingering_process", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("a", wasm("a_loop_v1"))
		loc := n.Spawn("a", "run_local", "")
		ext := n.Spawn("a", "run", "")
		n.Load("a", wasm("a_loop_v2"))
		n.Expect(ext, []string{"x", "y"}, "v1 got x", "v2 got y")
		if !n.Purge("a") {
			t.Fatal("purge = false, want true")
		}
		if e := n.Exit(loc); e.Reason != host.Killed {
			t.Errorf("lingering process exit %v, want killed", e)
		}
		n.Expect(ext, []string{"z"}, "v2 got z")
		if n.Purge("a") {
			t.Error("second purge = true, want false")
		}
		if !n.SoftPurge("a") {
			t.Error("soft purge after purge = false, want true")
		}
	}},
	{"9_call_of_removed_export_is_undef", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("counter", wasm("counter_v1"))
		if v := call1(t, n.H, "counter", "gone"); v != 1 {
			t.Fatalf("gone() = %d", v)
		}
		n.Load("counter", wasm("counter_v2"))
		if _, err := n.H.Call(ctx, "counter", "gone"); !errors.Is(err, host.ErrUndef) {
			t.Fatalf("gone() after reload: %v, want undef", err)
		}
	}},
	{"11_atomic_load_with_one_bad_module_loads_neither", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("ga", wasm("counter_v1"))
		n.Load("gb", wasm("counter_v1"))
		before := snap(n.H)
		err := n.H.AtomicLoad(ctx,
			host.Source{Name: "ga", Wasm: wasm("counter_v2")},
			host.Source{Name: "gb", Wasm: []byte("not a wasm module")})
		if !errors.Is(err, host.ErrBadModule) {
			t.Fatalf("atomic load: %v, want bad module", err)
		}
		if after := snap(n.H); !reflect.DeepEqual(before, after) {
			t.Fatalf("code table changed: %v -> %v", before, after)
		}
		if v := call1(t, n.H, "ga", "version"); v != 1 {
			t.Fatalf("ga version %d, want 1", v)
		}
	}},
	{"12_reload_of_sticky_module_is_refused", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		if err := n.H.AtomicLoad(ctx, host.Source{Name: "lists", Wasm: wasm("counter_v1"), Sticky: true}); err != nil {
			t.Fatal(err)
		}
		before := snap(n.H)
		if _, err := n.H.Load(ctx, "lists", wasm("counter_v2")); !errors.Is(err, host.ErrSticky) {
			t.Errorf("load: %v, want sticky", err)
		}
		if _, _, err := n.H.Reload(ctx, "lists", wasm("counter_v2")); !errors.Is(err, host.ErrSticky) {
			t.Errorf("reload: %v, want sticky", err)
		}
		if _, err := n.H.Delete(ctx, "lists"); !errors.Is(err, host.ErrSticky) {
			t.Errorf("delete: %v, want sticky", err)
		}
		if after := snap(n.H); !reflect.DeepEqual(before, after) {
			t.Fatalf("code table changed: %v -> %v", before, after)
		}
	}},
}
