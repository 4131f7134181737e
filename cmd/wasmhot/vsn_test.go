package main

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestVsnCommand: `wasmhot vsn FILE TAG` writes the section, `wasmhot vsn
// FILE` prints it, and a bad tag or a second tag changes nothing.
func TestVsnCommand(t *testing.T) {
	dir := t.TempDir()
	f := writeWasm(t, dir, "counter", "counter_v1")
	ctx := context.Background()
	if code, out, _ := runArgs(t, ctx, "vsn", f); code != 0 || !strings.HasPrefix(out, "sha256:") || !strings.Contains(out, "no wasmhot.vsn section") {
		t.Fatalf("untagged: exit %d, %q", code, out)
	}
	if code, out, errOut := runArgs(t, ctx, "vsn", f, "2.1.0"); code != 0 || !strings.Contains(out, "vsn 2.1.0") {
		t.Fatalf("set: exit %d, %q %q", code, out, errOut)
	}
	if code, out, _ := runArgs(t, ctx, "vsn", f); code != 0 || strings.TrimSpace(out) != "2.1.0" {
		t.Fatalf("tagged: exit %d, %q", code, out)
	}
	before, _ := os.ReadFile(f)
	for _, tag := range []string{"3.0", "has space"} {
		if code, _, errOut := runArgs(t, ctx, "vsn", f, tag); code == 0 || errOut == "" {
			t.Errorf("vsn %s: exit %d, stderr %q", tag, code, errOut)
		}
	}
	if after, _ := os.ReadFile(f); string(after) != string(before) {
		t.Error("a refused vsn changed the file")
	}
	if code, _, _ := runArgs(t, ctx, "vsn"); code == 0 {
		t.Error("vsn without arguments succeeded")
	}
}
