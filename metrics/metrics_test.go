package metrics_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/metrics"
)

func newHost(t *testing.T) *host.Host {
	t.Helper()
	h, err := host.New(context.Background(), host.NewConfig().WithLog(nil).WithMemoryBudget(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

// gather returns the families of reg by name.
func gather(t *testing.T, reg prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// value is the value of the family's metric whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("metric %s has no series %v", name, want)
	return 0
}

func TestCollector(t *testing.T) {
	ctx := context.Background()
	a, b := newHost(t), newHost(t)
	reg := prometheus.NewRegistry()
	// Two hosts in one registry, told apart by a constant label.
	reg.MustRegister(metrics.NewCollector(a, prometheus.Labels{"node": "a"}), metrics.NewCollector(b, prometheus.Labels{"node": "b"}))

	if _, err := a.Load(ctx, "counter", guestexamples.Wasm("counter_v1")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Load(ctx, "counter", guestexamples.Wasm("counter_v2")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Call(ctx, "counter", "version"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Load(ctx, "junk", []byte("not wasm")); err == nil {
		t.Fatal("junk loaded")
	}
	fams := gather(t, reg)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"wasmhot_loads_total", map[string]string{"node": "a"}, 2},
		{"wasmhot_loads_total", map[string]string{"node": "b"}, 0},
		{"wasmhot_load_failures_total", map[string]string{"node": "a"}, 1},
		{"wasmhot_calls_total", map[string]string{"node": "a"}, 1},
		{"wasmhot_modules", map[string]string{"node": "a"}, 1},
		{"wasmhot_old_versions", map[string]string{"node": "a"}, 1},
		{"wasmhot_reload_seconds", map[string]string{"node": "a"}, 2},
		{"wasmhot_memory_budget_bytes", map[string]string{"node": "a"}, 64 << 20},
		{"wasmhot_log_lines_dropped_total", map[string]string{"node": "a"}, 0},
		{"wasmhot_process_exits_total", map[string]string{"node": "a", "reason": "killed"}, 0},
		{"wasmhot_processes", map[string]string{"node": "a", "status": "running"}, 0},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if used := value(t, fams, "wasmhot_memory_used_bytes", map[string]string{"node": "a"}); used <= 0 {
		t.Errorf("memory used %v", used)
	}

	if _, err := a.Purge(ctx, "counter"); err != nil {
		t.Fatal(err)
	}
	fams = gather(t, reg)
	if got := value(t, fams, "wasmhot_purges_total", map[string]string{"node": "a"}); got != 1 {
		t.Errorf("purges %v, want 1", got)
	}
	if got := value(t, fams, "wasmhot_old_versions", map[string]string{"node": "a"}); got != 0 {
		t.Errorf("old versions after purge %v, want 0", got)
	}
}

// TestCollectorLint: the metrics follow Prometheus's naming rules.
func TestCollectorLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(metrics.NewCollector(newHost(t), nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
