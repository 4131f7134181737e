package host_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/wasmhot/wasmhot/host"
)

// recorder is a slog.Handler that keeps every record, at every level.
type recorder struct {
	mu   sync.Mutex
	recs []event
}

type event struct {
	level slog.Level
	msg   string
	attrs map[string]slog.Value
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	e := event{level: rec.Level, msg: rec.Message, attrs: map[string]slog.Value{}}
	rec.Attrs(func(a slog.Attr) bool {
		e.attrs[a.Key] = a.Value
		return true
	})
	r.mu.Lock()
	r.recs = append(r.recs, e)
	r.mu.Unlock()
	return nil
}

// find returns the records with message msg whose attributes print as
// want (each key's value formatted with %v).
func (r *recorder) find(msg string, want map[string]string) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
next:
	for _, e := range r.recs {
		if e.msg != msg {
			continue
		}
		for k, v := range want {
			if got, ok := e.attrs[k]; !ok || got.String() != v {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// one returns the only record find finds, failing the test otherwise.
func (r *recorder) one(t *testing.T, level slog.Level, msg string, want map[string]string) event {
	t.Helper()
	got := r.find(msg, want)
	if len(got) != 1 {
		r.mu.Lock()
		defer r.mu.Unlock()
		var all []string
		for _, e := range r.recs {
			all = append(all, fmt.Sprintf("%s %s %v", e.level, e.msg, e.attrs))
		}
		t.Fatalf("%d records %q %v, want 1; all:\n%s", len(got), msg, want, strings.Join(all, "\n"))
	}
	if got[0].level != level {
		t.Errorf("record %q %v at level %s, want %s", msg, want, got[0].level, level)
	}
	return got[0]
}

// TestEvents: loads, a failed load, purges, a kill, exits, an upgrade, a
// delete and a soft purge are each one slog record with their attributes,
// and Stats counts them.
func TestEvents(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{}
	n := newNode(t, host.NewConfig().WithLogger(slog.New(rec)))

	v1 := n.Load("a", wasm("a_loop_v1"))
	load := rec.one(t, slog.LevelInfo, "load", map[string]string{"module": "a", "vsn": "1", "sha256": v1.SHA256})
	if _, ok := load.attrs["old_vsn"]; ok {
		t.Errorf("first load has old_vsn: %v", load.attrs)
	}
	if d := load.attrs["duration"]; d.Kind() != slog.KindDuration || d.Duration() <= 0 {
		t.Errorf("load duration %v", d)
	}
	pid := n.Spawn("a", "run", "")
	rec.one(t, slog.LevelDebug, "spawn", map[string]string{"pid": pid.String(), "module": "a", "vsn": "1", "function": "run"})

	n.Load("a", wasm("a_loop_v2"))
	rec.one(t, slog.LevelInfo, "load", map[string]string{"module": "a", "vsn": "2", "old_vsn": "1"})
	n.Send(pid, "x", "y") // x in v1, then continue: y in v2
	if got := n.Lines(pid, 2); got[1] != "v2 got y" {
		t.Fatalf("lines %q", got)
	}
	rec.one(t, slog.LevelDebug, "upgrade", map[string]string{"pid": pid.String(), "module": "a", "from_vsn": "1", "vsn": "2"})

	// v1 is still old: the load of v3 fails and changes nothing.
	if _, err := n.H.Load(ctx, "a", wasm("a_loop_v3")); !errors.Is(err, host.ErrNotPurged) {
		t.Fatalf("load v3 before purge: %v", err)
	}
	failed := rec.one(t, slog.LevelWarn, "load failed", map[string]string{"module": "a"})
	if e := failed.attrs["error"].String(); !strings.Contains(e, "not purged") {
		t.Errorf("load failed error %q", e)
	}
	if _, err := n.H.Load(ctx, "bad", []byte("\x00asm garbage")); !errors.Is(err, host.ErrBadModule) {
		t.Fatalf("load of garbage: %v", err)
	}
	rec.one(t, slog.LevelWarn, "load failed", map[string]string{"module": "bad"})

	n.Purge("a") // v1: nobody lingers
	rec.one(t, slog.LevelInfo, "purge", map[string]string{"module": "a", "vsn": "1", "killed": "0", "reload": "false"})
	local := n.Spawn("a", "run_local", "")
	n.Load("a", wasm("a_loop_v3"))
	if !n.Purge("a") { // v2: both processes linger there
		t.Fatal("purge of v2 killed nobody")
	}
	rec.one(t, slog.LevelInfo, "purge", map[string]string{"module": "a", "vsn": "2", "killed": "2"})
	for _, p := range []host.PID{pid, local} {
		if e := n.Exit(p); e.Reason != host.Killed {
			t.Fatalf("exit %v", e)
		}
		ex := rec.one(t, slog.LevelInfo, "exit", map[string]string{"pid": p.String(), "module": "a", "vsn": "2", "reason": "killed"})
		if d := ex.attrs["duration"]; d.Kind() != slog.KindDuration || d.Duration() <= 0 {
			t.Errorf("exit duration %v", d)
		}
	}

	victim := n.Spawn("a", "run_local", "")
	if err := n.H.Kill(victim); err != nil {
		t.Fatal(err)
	}
	n.Exit(victim)
	rec.one(t, slog.LevelInfo, "kill", map[string]string{"pid": victim.String(), "module": "a"})
	rec.one(t, slog.LevelInfo, "exit", map[string]string{"pid": victim.String(), "vsn": "3", "reason": "killed"})

	stopped := n.Spawn("a", "run", "")
	n.Send(stopped, "stop")
	n.Exit(stopped)
	rec.one(t, slog.LevelDebug, "exit", map[string]string{"pid": stopped.String(), "reason": "normal"})

	n.Load("probe", wasm("probe"))
	trapped := n.Spawn("probe", "trap", "")
	n.Exit(trapped)
	tr := rec.one(t, slog.LevelWarn, "exit", map[string]string{"pid": trapped.String(), "module": "probe", "reason": "trap"})
	if tr.attrs["error"].String() == "" {
		t.Error("trap exit without error attribute")
	}

	if ok, err := n.H.Delete(ctx, "probe"); !ok || err != nil {
		t.Fatalf("delete: %v %v", ok, err)
	}
	rec.one(t, slog.LevelInfo, "delete", map[string]string{"module": "probe", "vsn": "1"})
	n.SoftPurge("probe")
	rec.one(t, slog.LevelInfo, "soft purge", map[string]string{"module": "probe", "vsn": "1", "freed": "true"})

	n.Load("counter", wasm("counter_v1"))
	call1(t, n.H, "counter", "version")
	if _, err := n.H.Call(ctx, "counter", "nope"); !errors.Is(err, host.ErrUndef) {
		t.Fatalf("call of nope: %v", err)
	}
	waiting := n.Spawn("a", "run_local", "")
	waitFor(t, func() bool { return n.H.Stats().Processes[host.Suspended] == 1 })

	st := n.H.Stats()
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"loads", st.Loads, 5}, // a v1, v2, v3, probe, counter
		{"load failures", st.LoadFailures, 2},
		{"purges", st.Purges, 3}, // a v1, a v2, probe (soft)
		{"deletes", st.Deletes, 1},
		{"spawns", st.Spawns, 6},
		{"upgrades", st.Upgrades, 1},
		{"calls", st.Calls, 1},
		{"call failures", st.CallFailures, 1},
		{"killed", st.Exits[host.Killed], 3},
		{"normal", st.Exits[host.Normal], 1},
		{"trap", st.Exits[host.Trap], 1},
		{"limit", st.Exits[host.Limit], 0},
		{"reloads observed", st.Reload.Count, 5},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
	if len(st.Exits) != 7 {
		t.Errorf("exit reasons %v: want all 7", st.Exits)
	}
	if st.Processes[host.Running]+st.Processes[host.Suspended] != 1 {
		t.Errorf("processes %v: want 1 live (%s)", st.Processes, waiting)
	}
	if st.Modules != 2 || st.OldVersions != 0 { // a (v3), counter; probe's old code was freed
		t.Errorf("modules %d, old %d; want 2, 0", st.Modules, st.OldVersions)
	}
	h := st.Reload
	if len(h.Counts) != len(h.Bounds) || h.Sum <= 0 {
		t.Fatalf("reload histogram %+v", h)
	}
	for i := 1; i < len(h.Counts); i++ {
		if h.Counts[i] < h.Counts[i-1] || h.Bounds[i] <= h.Bounds[i-1] {
			t.Fatalf("reload histogram not cumulative or bounds not ascending: %+v", h)
		}
	}
	if last := h.Counts[len(h.Counts)-1]; last > h.Count {
		t.Errorf("reload histogram: %d in the buckets, %d observations", last, h.Count)
	}
	if st.Memory.Used <= 0 {
		t.Errorf("memory used %d", st.Memory.Used)
	}
}

// TestEventsWithoutLogger: a host without a logger still counts.
func TestEventsWithoutLogger(t *testing.T) {
	n := newNode(t, host.NewConfig())
	n.Load("counter", wasm("counter_v1"))
	for range 3 {
		call1(t, n.H, "counter", "version")
	}
	f, err := n.H.Func("counter", "version")
	if err != nil {
		t.Fatal(err)
	}
	stack := make([]uint64, 1)
	if err := f.CallWithStack(context.Background(), stack); err != nil {
		t.Fatal(err)
	}
	if _, err := n.H.CallBytes(context.Background(), "counter", "version", nil); !errors.Is(err, host.ErrBadArity) {
		t.Fatalf("bytes call of a non-bytes function: %v", err)
	}
	st := n.H.Stats()
	if st.Loads != 1 || st.Calls != 4 || st.CallFailures != 1 {
		t.Errorf("loads %d calls %d failures %d, want 1 4 1", st.Loads, st.Calls, st.CallFailures)
	}
	if st.Modules != 1 || st.OldVersions != 0 {
		t.Errorf("modules %d old %d", st.Modules, st.OldVersions)
	}
	if n.H.Closed() {
		t.Error("Closed before Close")
	}
	_ = n.H.Close(context.Background())
	if !n.H.Closed() {
		t.Error("not Closed after Close")
	}
}
