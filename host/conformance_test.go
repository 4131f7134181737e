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
)

// node is a host with a captured log, for process scenarios.
type node struct {
	t   *testing.T
	h   *host.Host
	log *logLines
}

func newNode(t *testing.T, cfg host.Config) *node {
	lg := newLog()
	return &node{t: t, h: newHost(t, cfg.WithLog(lg)), log: lg}
}

func (n *node) load(name, file string) { mustLoad(n.t, n.h, name, file) }

func (n *node) spawn(mod, fn string, state string) host.PID {
	n.t.Helper()
	pid, err := n.h.Spawn(context.Background(), mod, fn, []byte(state))
	if err != nil {
		n.t.Fatalf("spawn %s:%s: %v", mod, fn, err)
	}
	return pid
}

func (n *node) send(pid host.PID, msgs ...string) {
	n.t.Helper()
	for _, m := range msgs {
		if err := n.h.Send(pid, []byte(m)); err != nil {
			n.t.Fatalf("send %q: %v", m, err)
		}
	}
}

// lines returns the guest text of the log lines of pid, waiting until there
// are at least want of them.
func (n *node) lines(pid host.PID, want int) []string {
	n.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []string
		n.log.mu.Lock()
		for _, l := range n.log.lines {
			if i := strings.Index(l, pid.String()+": "); i >= 0 {
				got = append(got, l[i+len(pid.String())+2:])
			}
		}
		n.log.mu.Unlock()
		if len(got) >= want {
			return got
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("pid %s: waited for %d lines, have %q", pid, want, got)
		}
		time.Sleep(time.Millisecond)
	}
}

// expect sends msgs to pid and checks the lines they produce.
func (n *node) expect(pid host.PID, msgs []string, want ...string) {
	n.t.Helper()
	before := len(n.lines(pid, 0))
	n.send(pid, msgs...)
	got := n.lines(pid, before+len(want))[before:]
	if !reflect.DeepEqual(got, want) {
		n.t.Fatalf("pid %s after %q: got %q, want %q", pid, msgs, got, want)
	}
}

func (n *node) exit(pid host.PID) host.Exit {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := n.h.Wait(ctx, pid)
	if err != nil {
		n.t.Fatalf("wait %s: %v", pid, err)
	}
	return e
}

func (n *node) alive(pid host.PID) bool {
	n.t.Helper()
	pi, err := n.h.Process(pid)
	if err != nil {
		n.t.Fatal(err)
	}
	return pi.Exit == nil
}

func (n *node) check(pid host.PID, module string) bool {
	n.t.Helper()
	ok, err := n.h.CheckProcessCode(pid, module)
	if err != nil {
		n.t.Fatal(err)
	}
	return ok
}

func (n *node) softPurge(module string) bool {
	n.t.Helper()
	ok, err := n.h.SoftPurge(context.Background(), module)
	if err != nil {
		n.t.Fatal(err)
	}
	return ok
}

func (n *node) purge(module string) bool {
	n.t.Helper()
	r, err := n.h.Purge(context.Background(), module)
	if err != nil {
		n.t.Fatal(err)
	}
	return r.KilledAny()
}

// TestConformance reproduces the behaviour table of Erlang/OTP code loading
// with wasmhot guests; each subtest names its row.
func TestConformance(t *testing.T) {
	rows := append(append([]conformanceRow(nil), conformanceRows...), externalRows...)
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
		n.load("a", "a_loop_v1")
		ext := n.spawn("a", "run", "")
		n.expect(ext, []string{"p1", "p2"}, "v1 got p1", "v1 got p2")
		n.load("a", "a_loop_v2")
		if !n.check(ext, "a") {
			t.Error("blocked in v1's receive: check_process_code = false, want true")
		}
		// The message it was blocked on is handled by v1; the
		// continue("run") after it enters v2.
		n.expect(ext, []string{"p3", "p4", "p5"}, "v1 got p3", "v2 got p4", "v2 got p5")
		if n.check(ext, "a") {
			t.Error("after the upgrade: check_process_code = true, want false")
		}
		n.send(ext, "stop")
		if e := n.exit(ext); e.Reason != host.Normal {
			t.Errorf("exit %v, want normal", e)
		}
	}},
	{"2_local_loop_stays_in_old_code", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.load("a", "a_loop_v1")
		loc := n.spawn("a", "run_local", "")
		n.expect(loc, []string{"p1"}, "v1 got p1")
		n.load("a", "a_loop_v2")
		msgs := make([]string, 100)
		want := make([]string, 100)
		for i := range msgs {
			msgs[i] = "p"
			want[i] = "v1 got p"
		}
		n.expect(loc, msgs, want...)
		if !n.check(loc, "a") {
			t.Error("check_process_code = false, want true")
		}
	}},
	{"4_controlled_upgrade_with_state_transform", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.load("hotfix", "hotfix_v1")
		srv := n.spawn("hotfix", "server", "")
		n.expect(srv, []string{"incr", "get", "incr", "get"}, "v1 count=1", "v1 count=2")
		n.load("hotfix", "hotfix_v2")
		n.expect(srv, []string{"incr", "get", "get"}, "v1 count=3", "v1 count=3")
		if !n.check(srv, "hotfix") || n.softPurge("hotfix") {
			t.Error("before update: want check_process_code true, soft_purge false")
		}
		n.expect(srv, []string{"update", "get"}, "v2 count=3 from=1")
		n.expect(srv, []string{"incr", "get"}, "v2 count=13 from=1")
		if n.check(srv, "hotfix") {
			t.Error("after update: check_process_code = true")
		}
		if !n.softPurge("hotfix") {
			t.Error("after update: soft_purge = false")
		}
		// A second update with no new code keeps the state.
		n.expect(srv, []string{"update", "get"}, "v2 count=13 from=1")
		n.send(srv, "stop")
		if e := n.exit(srv); e.Reason != host.Normal {
			t.Errorf("exit %v, want normal", e)
		}
	}},
	{"5_load_while_old_exists_is_not_purged", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.load("a", "a_loop_v1")
		p1 := n.spawn("a", "run_local", "")
		n.load("a", "a_loop_v2")
		p2 := n.spawn("a", "run_local", "")
		before := snap(n.h)
		_, err := n.h.Load(ctx, "a", wasm("a_loop_v3"))
		if !errors.Is(err, host.ErrNotPurged) {
			t.Fatalf("load v3: %v, want not purged", err)
		}
		if err := n.h.AtomicLoad(ctx, host.Source{Name: "a", Wasm: wasm("a_loop_v3")}); !errors.Is(err, host.ErrNotPurged) {
			t.Fatalf("atomic load v3: %v, want not purged", err)
		}
		if after := snap(n.h); !reflect.DeepEqual(before, after) {
			t.Fatalf("code table changed: %v -> %v", before, after)
		}
		n.expect(p1, []string{"x"}, "v1 got x")
		n.expect(p2, []string{"x"}, "v2 got x")
	}},
	{"6_third_load_purges_oldest_and_kills", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.load("a", "a_loop_v1")
		p1 := n.spawn("a", "run_local", "")
		n.load("a", "a_loop_v2")
		p2 := n.spawn("a", "run_local", "")
		mon, err := n.h.Monitor(p1)
		if err != nil {
			t.Fatal(err)
		}
		vi, res, err := n.h.Reload(ctx, "a", wasm("a_loop_v3"))
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
		n.expect(p2, []string{"x"}, "v2 got x")
		p3 := n.spawn("a", "run_local", "")
		n.expect(p3, []string{"x"}, "v3 got x")
	}},
	{"7_soft_purge_with_lingering_process", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.load("a", "a_loop_v1")
		loc := n.spawn("a", "run_local", "")
		n.load("a", "a_loop_v2")
		if n.softPurge("a") {
			t.Fatal("soft_purge = true, want false")
		}
		if m, _ := n.h.Which("a"); m.Old == nil || m.Old.Lingering != 1 {
			t.Fatalf("old code after soft purge: %+v", m.Old)
		}
		n.expect(loc, []string{"x"}, "v1 got x")
	}},
	{"8_purge_kills_lingering_process", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.load("a", "a_loop_v1")
		loc := n.spawn("a", "run_local", "")
		ext := n.spawn("a", "run", "")
		n.load("a", "a_loop_v2")
		n.expect(ext, []string{"x", "y"}, "v1 got x", "v2 got y")
		if !n.purge("a") {
			t.Fatal("purge = false, want true")
		}
		if e := n.exit(loc); e.Reason != host.Killed {
			t.Errorf("lingering process exit %v, want killed", e)
		}
		n.expect(ext, []string{"z"}, "v2 got z")
		if n.purge("a") {
			t.Error("second purge = true, want false")
		}
		if !n.softPurge("a") {
			t.Error("soft purge after purge = false, want true")
		}
	}},
	{"9_call_of_removed_export_is_undef", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.load("counter", "counter_v1")
		if v := call1(t, n.h, "counter", "gone"); v != 1 {
			t.Fatalf("gone() = %d", v)
		}
		n.load("counter", "counter_v2")
		if _, err := n.h.Call(ctx, "counter", "gone"); !errors.Is(err, host.ErrUndef) {
			t.Fatalf("gone() after reload: %v, want undef", err)
		}
	}},
	{"11_atomic_load_with_one_bad_module_loads_neither", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.load("ga", "counter_v1")
		n.load("gb", "counter_v1")
		before := snap(n.h)
		err := n.h.AtomicLoad(ctx,
			host.Source{Name: "ga", Wasm: wasm("counter_v2")},
			host.Source{Name: "gb", Wasm: []byte("not a wasm module")})
		if !errors.Is(err, host.ErrBadModule) {
			t.Fatalf("atomic load: %v, want bad module", err)
		}
		if after := snap(n.h); !reflect.DeepEqual(before, after) {
			t.Fatalf("code table changed: %v -> %v", before, after)
		}
		if v := call1(t, n.h, "ga", "version"); v != 1 {
			t.Fatalf("ga version %d, want 1", v)
		}
	}},
	{"12_reload_of_sticky_module_is_refused", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		if err := n.h.AtomicLoad(ctx, host.Source{Name: "lists", Wasm: wasm("counter_v1"), Sticky: true}); err != nil {
			t.Fatal(err)
		}
		before := snap(n.h)
		if _, err := n.h.Load(ctx, "lists", wasm("counter_v2")); !errors.Is(err, host.ErrSticky) {
			t.Errorf("load: %v, want sticky", err)
		}
		if _, _, err := n.h.Reload(ctx, "lists", wasm("counter_v2")); !errors.Is(err, host.ErrSticky) {
			t.Errorf("reload: %v, want sticky", err)
		}
		if _, err := n.h.Delete(ctx, "lists"); !errors.Is(err, host.ErrSticky) {
			t.Errorf("delete: %v, want sticky", err)
		}
		if after := snap(n.h); !reflect.DeepEqual(before, after) {
			t.Fatalf("code table changed: %v -> %v", before, after)
		}
	}},
}
