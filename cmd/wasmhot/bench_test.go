package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

// The bench command runs the benchmarks and reports ratios; --quick keeps
// this a smoke test (speed is not asserted here, only that it measures).
func TestBenchCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"wasmhot", "bench", "--quick", "--json", "--only", "localcall,storm"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rows []map[string]any
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("json: %v\n%s", err, out.String())
	}
	byName := map[string]map[string]any{}
	for _, r := range rows {
		for _, k := range []string{"name", "value", "unit", "floor", "ratio", "target", "met"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("row %v lacks %q", r, k)
			}
		}
		byName[r["name"].(string)] = r
	}
	// 4 LocalCall cases, and per mode 6 storm rows.
	if len(rows) != 4+2*6 {
		t.Fatalf("%d rows: %s", len(rows), out.String())
	}
	if r := byName["LocalCall/trusted/wasmhot"]; r["floor"] != "LocalCall/trusted/floor" || r["ratio"] == nil || r["unit"] != "ns/op" {
		t.Errorf("LocalCall row: %v", r)
	}
	for _, mode := range []string{"sandboxed", "trusted"} {
		if r := byName["Storm/"+mode+"/failed_calls"]; r["value"] != 0.0 || r["met"] != true {
			t.Errorf("storm %s: %v", mode, r)
		}
		med, p99 := byName["Storm/"+mode+"/reload_median"], byName["Storm/"+mode+"/reload_p99"]
		if v, _ := med["value"].(float64); v <= 0 || med["unit"] != "ns" || med["met"] == nil {
			t.Errorf("storm %s median: %v", mode, med)
		}
		if v, _ := p99["value"].(float64); v < med["value"].(float64) || p99["target"] == nil {
			t.Errorf("storm %s p99: %v (median %v)", mode, p99, med["value"])
		}
	}
}
