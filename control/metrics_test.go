package control

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/host"
)

// scrape GETs /metrics through hc and parses the text format.
func scrape(t *testing.T, hc *http.Client, base, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: content type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// sample is the value of the series of name whose labels include want
// (a histogram: its sample count); -1 when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == want[i] && l.GetValue() == want[i+1])
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
	return -1
}

// TestMetricsEndpoint: /metrics, scraped and parsed after a load, a call,
// a purge and a kill, shows each of their counters moved.
func TestMetricsEndpoint(t *testing.T) {
	ctx := context.Background()
	s := newTestServer(t, Options{})
	base := "http://wasmhot"
	before := scrape(t, s.http, base, "")
	for _, name := range []string{
		"wasmhot_loads_total", "wasmhot_load_failures_total", "wasmhot_purges_total", "wasmhot_calls_total",
		"wasmhot_reload_seconds", "wasmhot_modules", "wasmhot_memory_budget_bytes", "wasmhot_memory_used_bytes",
		"wasmhot_memory_refusals_total", "go_goroutines",
	} {
		if v := sample(before, name); v < 0 {
			t.Errorf("no %s before anything happened", name)
		}
	}
	if v := sample(before, "wasmhot_process_exits_total", "reason", "killed"); v != 0 {
		t.Errorf("killed exits at start: %v", v)
	}

	// moved checks that each named series went from was to want.
	type series struct {
		name   string
		labels []string
		was    float64
		want   float64
	}
	check := func(step string, fams map[string]*dto.MetricFamily, ss ...series) {
		t.Helper()
		for _, x := range ss {
			if got := sample(fams, x.name, x.labels...); got != x.want {
				t.Errorf("after %s: %s%v = %v (was %v), want %v", step, x.name, x.labels, got, x.was, x.want)
			}
		}
	}

	for _, f := range []string{"a_loop_v1", "a_loop_v2"} {
		if _, err := s.cl.Load(ctx, LoadRequest{Modules: []ModuleSource{{Name: "a", Wasm: guestexamples.Wasm(f)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.cl.Load(ctx, LoadRequest{Modules: []ModuleSource{{Name: "bad", Wasm: []byte("junk")}}}); err == nil {
		t.Fatal("junk loaded")
	}
	afterLoad := scrape(t, s.http, base, "")
	check("two loads and a failed one", afterLoad,
		series{"wasmhot_loads_total", nil, 0, 2},
		series{"wasmhot_load_failures_total", nil, 0, 1},
		series{"wasmhot_reload_seconds", nil, 0, 2},
		series{"wasmhot_modules", nil, 0, 1},
		series{"wasmhot_old_versions", nil, 0, 1},
	)
	if used := sample(afterLoad, "wasmhot_memory_used_bytes"); used <= sample(before, "wasmhot_memory_used_bytes") {
		t.Errorf("memory used %v after loads, %v before", used, sample(before, "wasmhot_memory_used_bytes"))
	}

	if _, err := s.cl.Purge(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	pid, err := s.cl.Spawn(ctx, SpawnRequest{Module: "a", Function: "run_local"})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return s.h.Stats().Processes[host.Suspended] == 1 })
	check("a purge and a spawn", scrape(t, s.http, base, ""),
		series{"wasmhot_purges_total", nil, 0, 1},
		series{"wasmhot_old_versions", nil, 1, 0},
		series{"wasmhot_spawns_total", nil, 0, 1},
		series{"wasmhot_processes", []string{"status", "suspended"}, 0, 1},
	)

	if _, err := s.cl.Kill(ctx, pid); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return s.h.Stats().Exits[host.Killed] == 1 })
	if _, err := s.cl.Load(ctx, LoadRequest{Modules: []ModuleSource{{Name: "counter", Wasm: guestexamples.Wasm("counter_v1")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cl.Call(ctx, CallRequest{Module: "counter", Function: "version"}); err != nil {
		t.Fatal(err)
	}
	check("a kill and a call", scrape(t, s.http, base, ""),
		series{"wasmhot_process_exits_total", []string{"reason", "killed"}, 0, 1},
		series{"wasmhot_process_exits_total", []string{"reason", "trap"}, 0, 0},
		series{"wasmhot_processes", []string{"status", "suspended"}, 1, 0},
		series{"wasmhot_calls_total", nil, 0, 1},
		series{"wasmhot_loads_total", nil, 2, 3},
	)
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHealthz: 200 and counts while the host is open, 503 with code
// closed once it is closing.
func TestHealthz(t *testing.T) {
	ctx := context.Background()
	s := newTestServer(t, Options{})
	if _, err := s.cl.Load(ctx, LoadRequest{Modules: []ModuleSource{{Name: "counter", Wasm: guestexamples.Wasm("counter_v1")}}}); err != nil {
		t.Fatal(err)
	}
	res, err := s.cl.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res != (HealthResponse{Status: "ok", Modules: 1, Processes: 0}) {
		t.Errorf("health %+v", res)
	}
	if err := s.h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = s.cl.Health(ctx)
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || e.Code != CodeClosed {
		t.Fatalf("health of a closed node: %v", err)
	}
	resp, err := s.http.Get("http://wasmhot/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || body["status"] != "closing" || body["code"] != CodeClosed {
		t.Errorf("closing: %s %v", resp.Status, body)
	}
}

// TestMetricsAuth: behind a token, /metrics and /healthz need it like
// every endpoint; MetricsHandler serves them alone and without it.
func TestMetricsAuth(t *testing.T) {
	h, err := host.New(context.Background(), host.NewConfig().WithLog(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	srv := NewServer(Options{Host: h})
	const token = "0123456789abcdef0123"
	api := httptest.NewServer(srv.Handler(token))
	defer api.Close()
	mon := httptest.NewServer(srv.MetricsHandler())
	defer mon.Close()

	get := func(url, token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		url, token string
		want       int
	}{
		{api.URL + "/metrics", "", http.StatusUnauthorized},
		{api.URL + "/healthz", "", http.StatusUnauthorized},
		{api.URL + "/healthz", "wrong-token-wrong-token", http.StatusUnauthorized},
		{api.URL + "/metrics", token, http.StatusOK},
		{api.URL + "/healthz", token, http.StatusOK},
		{mon.URL + "/metrics", "", http.StatusOK},
		{mon.URL + "/healthz", "", http.StatusOK},
		{mon.URL + "/v1/modules", "", http.StatusNotFound},
		{mon.URL + "/v1/modules", token, http.StatusNotFound},
		{mon.URL + "/", "", http.StatusNotFound},
	} {
		if got := get(c.url, c.token); got != c.want {
			t.Errorf("GET %s (token %q): %d, want %d", strings.TrimPrefix(c.url, "http://"), c.token, got, c.want)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, mon.URL+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %s", resp.Status)
	}
	if fams := scrape(t, http.DefaultClient, mon.URL, ""); sample(fams, "wasmhot_loads_total") != 0 {
		t.Errorf("loads on a new node: %v", sample(fams, "wasmhot_loads_total"))
	}
}
