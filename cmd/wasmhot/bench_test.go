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
	var rep benchReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, out.String())
	}
	if len(rep.Results) != 4 || len(rep.Storms) != 2 || len(rep.Ratios) != 2 {
		t.Fatalf("got %d results, %d storms, %d ratios: %+v", len(rep.Results), len(rep.Storms), len(rep.Ratios), rep)
	}
	for _, s := range rep.Storms {
		if s.FailedCalls != 0 || s.Reloads != 200 || s.StormPerSec <= 0 {
			t.Errorf("storm %+v", s)
		}
	}
}
