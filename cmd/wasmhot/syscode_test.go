package main

import (
	"context"
	"strings"
	"testing"
)

// TestChangeCodeCommands: suspend, change-code (refused, then accepted)
// and resume from the command line.
func TestChangeCodeCommands(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	srv := writeWasm(t, dir, "sys", "sys_v1")
	vsn := func(file, tag string) {
		t.Helper()
		if code, _, errOut := runArgs(t, context.Background(), "vsn", file, tag); code != 0 {
			t.Fatalf("vsn: exit %d, %s", code, errOut)
		}
	}
	vsn(srv, "1.0")
	if out := n.cli(t, "load", srv); !strings.Contains(out, "loaded sys vsn 1 (1.0,") {
		t.Fatalf("load: %q", out)
	}
	pid := strings.TrimSpace(n.cli(t, "spawn", "sys", "run"))
	if got := strings.TrimSpace(n.cli(t, "suspend", pid[:8])); got != pid {
		t.Fatalf("suspend printed %q, want %s", got, pid)
	}
	if out := n.cli(t, "procs", pid); !strings.Contains(out, "sys-suspended") {
		t.Errorf("procs of a suspended process:\n%s", out)
	}
	srv = writeWasm(t, dir, "sys", "sys_v2")
	vsn(srv, "2.0")
	n.cli(t, "load", srv)
	code, _, errOut := n.try(t, "change-code", "--extra", "refuse", pid)
	if code != 1 || !strings.Contains(errOut, "refused: ") || !strings.Contains(errOut, "refused by v2") {
		t.Fatalf("refused change-code: exit %d, stderr %q", code, errOut)
	}
	if out := n.cli(t, "change-code", "--extra", "go", pid); strings.TrimSpace(out) != pid+" vsn 2 (2.0)" {
		t.Fatalf("change-code printed %q", out)
	}
	n.cli(t, "resume", pid)
	if out := n.cli(t, "procs"); !strings.Contains(out, pid) {
		t.Fatalf("procs:\n%s", out)
	}
}
