package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServeMetricsAndJSONEvents: with --log-format json every stderr line
// is a JSON object, node events among them with their attributes; the
// --metrics listener serves /metrics and /healthz without a token and
// nothing else.
func TestServeMetricsAndJSONEvents(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, "--metrics", "127.0.0.1:0", "--log-format", "json")
	addr := waitOutput(t, n.stderr, `metrics listening on tcp:([0-9.]+:[0-9]+)`)
	n.cli(t, "load", writeWasm(t, dir, "a", "a_loop_v1"))
	pid := strings.TrimSpace(n.cli(t, "spawn", "a", "run_local"))
	n.cli(t, "kill", pid)

	waitOutput(t, n.stderr, `"msg":"exit"`)
	var load, exit map[string]any
	for _, line := range strings.Split(strings.TrimSpace(n.stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("stderr line is not JSON: %q", line)
		}
		switch rec["msg"] {
		case "load":
			load = rec
		case "exit":
			exit = rec
		}
	}
	if load == nil || load["level"] != "INFO" || load["module"] != "a" || load["vsn"] != 1.0 {
		t.Errorf("load record %v", load)
	}
	if d, ok := load["duration"].(float64); !ok || d <= 0 {
		t.Errorf("load record's duration %v", load["duration"])
	}
	if exit == nil || exit["pid"] != pid || exit["reason"] != "killed" || exit["module"] != "a" {
		t.Errorf("exit record %v (pid %s)", exit, pid)
	}

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	if code != http.StatusOK || !strings.Contains(body, "\nwasmhot_loads_total 1\n") ||
		!strings.Contains(body, `wasmhot_process_exits_total{reason="killed"} 1`) {
		t.Errorf("GET /metrics: %d\n%s", code, body)
	}
	code, body = get("/healthz")
	var health map[string]any
	if code != http.StatusOK || json.Unmarshal([]byte(body), &health) != nil || health["status"] != "ok" || health["modules"] != 1.0 {
		t.Errorf("GET /healthz: %d %s", code, body)
	}
	if code, _ := get("/v1/modules"); code != http.StatusNotFound {
		t.Errorf("GET /v1/modules on the metrics listener: %d, want 404", code)
	}
}

// TestServeTextEvents: by default node events are slog's text lines on
// stderr, guest log lines stay on stdout as they were.
func TestServeTextEvents(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	n.cli(t, "load", writeWasm(t, dir, "a", "a_loop_v1"))
	waitOutput(t, n.stderr, `level=INFO msg=load module=a vsn=1 sha256=[0-9a-f]{64} size=\d+ duration=\S+`)
	pid := strings.TrimSpace(n.cli(t, "spawn", "a", "run"))
	n.cli(t, "send", pid, "hello")
	waitOutput(t, n.stdout, `a v1 `+pid+`: v1 got hello`)
	if strings.Contains(n.stdout.String(), "msg=") {
		t.Errorf("node events on stdout:\n%s", n.stdout)
	}
	if strings.Contains(n.stderr.String(), "msg=spawn") {
		t.Errorf("a debug event at the default level:\n%s", n.stderr)
	}
}

func TestServeLogFlagsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--log-format", "xml"},
		{"--log-level", "loud"},
		{"--log-level", "info+2"},
		{"--metrics", "9464"},
	} {
		code, _, errOut := runArgs(t, context.Background(), append([]string{"serve", "--socket", t.TempDir() + "/n.sock"}, args...)...)
		if code != 2 || !strings.Contains(errOut, args[0]) {
			t.Errorf("serve %v: exit %d, stderr %q; want 2 and a word on %s", args, code, errOut, args[0])
		}
	}
}
