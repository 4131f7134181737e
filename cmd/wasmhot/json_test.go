package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// README.md's "JSON output" documents every field that modules --json,
// procs --json and inspect --json print, and each prints [] for an empty
// list.
func TestJSONOutputDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := regexp.MustCompile(`(?s)### JSON output\n(.*?)\n## `).FindSubmatch(readme)
	if sec == nil {
		t.Fatal(`README.md has no "### JSON output" subsection`)
	}
	doc := string(sec[1])

	dir := t.TempDir()
	n := startNode(t, dir)
	if out := strings.TrimSpace(n.cli(t, "modules", "--json")); out != "[]" {
		t.Errorf("modules --json of an empty node = %q, want []", out)
	}
	if out := strings.TrimSpace(n.cli(t, "procs", "--json")); out != "[]" {
		t.Errorf("procs --json of an empty node = %q, want []", out)
	}
	a := writeWasm(t, dir, "a", "a_loop_v1")
	n.cli(t, "load", a)
	n.cli(t, "spawn", "a", "run_local")
	writeWasm(t, dir, "a", "a_loop_v2")
	n.cli(t, "load", a) // old code with a lingering process
	probe := writeWasm(t, dir, "probe", "probe")
	n.cli(t, "load", probe)
	n.cli(t, "spawn", "probe", "trap") // exits with an error
	eventually(t, "the probe to exit", func() bool {
		return strings.Contains(n.cli(t, "procs", "--all"), "trap")
	})
	_, inspectOut, _ := runArgs(t, t.Context(), "inspect", "--json", writeWasm(t, dir, "gs", "gs"))

	for name, out := range map[string]string{
		"modules --json":      n.cli(t, "modules", "--json"),
		"procs --all --json":  n.cli(t, "procs", "--all", "--json"),
		"inspect --json (gs)": inspectOut,
	} {
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		var keys []string
		collectKeys(v, &keys)
		if len(keys) == 0 {
			t.Errorf("%s printed no fields:\n%s", name, out)
		}
		for _, k := range keys {
			if !strings.Contains(doc, "`"+k+"`") {
				t.Errorf("%s prints field %q, which README.md's JSON output does not document", name, k)
			}
		}
	}
	if strings.Contains(inspectOut, "null") {
		t.Errorf("inspect --json has a null:\n%s", inspectOut)
	}
}

// collectKeys adds the object keys found anywhere in v.
func collectKeys(v any, keys *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if !slices.Contains(*keys, k) {
				*keys = append(*keys, k)
			}
			collectKeys(e, keys)
		}
	case []any:
		for _, e := range v {
			collectKeys(e, keys)
		}
	}
}
