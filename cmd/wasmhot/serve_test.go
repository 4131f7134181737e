package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wasmhot/wasmhot/control"
)

// The whole workflow of a node driven by the client commands: load, spawn,
// send, reload under a running process, soft purge, purge.
func TestServeWorkflow(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	if fi, err := os.Stat(n.sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %s: %v, mode %v; want 0600", n.sock, err, fi.Mode().Perm())
	}
	a := writeWasm(t, dir, "a", "a_loop_v1")

	out := n.cli(t, "load", a)
	if !strings.Contains(out, "loaded a vsn 1") {
		t.Fatalf("load: %q", out)
	}
	pid := strings.TrimSpace(n.cli(t, "spawn", "a", "run"))
	if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(pid) {
		t.Fatalf("spawn printed %q, want a uuid", pid)
	}
	n.cli(t, "send", pid, "hello")
	waitLogs(t, n, `a v1 `+pid+`: v1 got hello`)

	writeWasm(t, dir, "a", "a_loop_v2")
	out = n.cli(t, "load", a)
	if !strings.Contains(out, "loaded a vsn 2") || !strings.Contains(out, "old vsn 1, 1 lingering") {
		t.Fatalf("load v2: %q", out)
	}
	// The process waits in receive, in vsn 1 code: it lingers in old code.
	if got := strings.TrimSpace(n.cli(t, "check", pid, "a")); got != "true" {
		t.Errorf("check before the next message = %s, want true", got)
	}
	if got := strings.TrimSpace(n.cli(t, "soft-purge", "a")); got != "false" {
		t.Errorf("soft-purge with a lingering process = %s, want false", got)
	}
	// Loading again while old code exists: not purged, nothing changes.
	code, _, errOut := n.try(t, "load", a)
	if want := "wasmhot: load a: not purged: old code still in use by 1 process; use --purge to kill it\n"; code != 1 || errOut != want {
		t.Errorf("load over old code: exit %d, stderr %q; want %q", code, errOut, want)
	}

	// vsn 1 handles the message it was blocked on, then continue(run)
	// moves the process to vsn 2: the next message is answered by v2.
	n.cli(t, "send", pid, "ping")
	waitLogs(t, n, `a v1 `+pid+`: v1 got ping`)
	n.cli(t, "send", pid, "pong")
	waitLogs(t, n, `a v2 `+pid+`: v2 got pong`)
	if got := strings.TrimSpace(n.cli(t, "check", pid, "a")); got != "false" {
		t.Errorf("check after the upgrade = %s, want false", got)
	}
	if got := strings.TrimSpace(n.cli(t, "soft-purge", "a")); got != "true" {
		t.Errorf("soft-purge after the upgrade = %s, want true", got)
	}

	// A second process stays in a local loop: vsn 2 forever.
	local := strings.TrimSpace(n.cli(t, "spawn", "a", "run_local"))
	n.cli(t, "send", local, "hi")
	waitLogs(t, n, `a v2 `+local+`: v2 got hi`)
	writeWasm(t, dir, "a", "a_loop_v3")
	n.cli(t, "load", a)
	// Move the external-loop process on to vsn 3; the local loop stays.
	n.cli(t, "send", pid, "again")
	waitLogs(t, n, `a v2 `+pid+`: v2 got again`)
	eventually(t, "the process to leave vsn 2", func() bool {
		return strings.TrimSpace(n.cli(t, "check", pid, "a")) == "false"
	})
	if got := strings.TrimSpace(n.cli(t, "purge", "a")); got != "true" {
		t.Errorf("purge with a lingering process = %s, want true", got)
	}
	if got := strings.TrimSpace(n.cli(t, "purge", "a")); got != "false" {
		t.Errorf("purge without old code = %s, want false", got)
	}

	var procs []control.Process
	if err := json.Unmarshal([]byte(n.cli(t, "procs", "--json", "--all")), &procs); err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, p := range procs {
		state[p.PID] = p.Status
		if p.Exit != nil {
			state[p.PID] += " " + p.Exit.Reason
		}
	}
	if state[pid] != "suspended" || state[local] != "exited killed" {
		t.Errorf("procs: ext %q, local %q; want suspended, exited killed\n%v", state[pid], state[local], procs)
	}
	out = n.cli(t, "procs")
	if !strings.Contains(out, pid) || strings.Contains(out, local) {
		t.Errorf("procs without --all must list only the live process:\n%s", out)
	}

	var mods []control.Module
	if err := json.Unmarshal([]byte(n.cli(t, "modules", "--json")), &mods); err != nil {
		t.Fatal(err)
	}
	if len(mods) != 1 || mods[0].Current == nil || mods[0].Current.Vsn != 3 || mods[0].Old != nil || !strings.HasPrefix(mods[0].Current.VsnTag, "sha256:") {
		t.Fatalf("modules: %+v", mods)
	}
	out = n.cli(t, "modules")
	if !regexp.MustCompile(`(?m)^a\s+3\s+sha256:[0-9a-f]{16}\s+[0-9a-f-]{36}\s+[0-9a-f]{12}\s+\d+\s+.*\snone\s+-\s+false\s*$`).MatchString(out) {
		t.Errorf("modules table:\n%s", out)
	}
	if got := strings.TrimSpace(n.cli(t, "delete", "a")); got != "true" {
		t.Errorf("delete = %s, want true", got)
	}
	code, _, errOut = n.try(t, "spawn", "a", "run")
	if code != 1 || !strings.Contains(errOut, "wasmhot: spawn a:run: undef") {
		t.Errorf("spawn of a deleted module: exit %d, stderr %q", code, errOut)
	}

	if code := n.stop(t); code != 0 {
		t.Errorf("serve exit %d, stderr:\n%s", code, n.stderr)
	}
	if _, err := os.Stat(n.sock); !os.IsNotExist(err) {
		t.Errorf("socket left after stop: %v", err)
	}
	if !strings.Contains(n.stdout.String(), "v2 got pong") {
		t.Errorf("guest log lines are not on serve's stdout:\n%s", n.stdout)
	}
}

// waitLogs waits until `wasmhot logs` shows a line matching re.
func waitLogs(t *testing.T, n *testNode, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	eventually(t, "logs to show "+re, func() bool {
		return rx.MatchString(n.cli(t, "logs"))
	})
}

func TestServeCallAndErrors(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	counter := writeWasm(t, dir, "counter", "counter_v1")
	n.cli(t, "load", "--sticky", counter)
	if got := strings.TrimSpace(n.cli(t, "call", "counter", "add", "-5", "2")); got != "-3" {
		t.Errorf("call counter add -5 2 = %q, want -3", got)
	}
	if got := strings.TrimSpace(n.cli(t, "call", "counter", "spin", "0x10")); got != "16" {
		t.Errorf("call counter spin 0x10 = %q, want 16", got)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"sticky reload", []string{"load", "--purge", counter}, 1, "wasmhot: load counter: sticky directory: "},
		{"sticky delete", []string{"delete", "counter"}, 1, "wasmhot: delete counter: sticky directory: "},
		{"undef", []string{"call", "counter", "nope"}, 1, "wasmhot: call counter:nope: undef"},
		{"badarity", []string{"call", "counter", "add", "1"}, 1, "wasmhot: call counter:add: badarity: 1 arguments for (i32,i32)->(i32)"},
		{"not a number", []string{"call", "counter", "add", "1", "x"}, 1, `wasmhot: call counter:add: bad request: argument 2: not an i32: "x"`},
		{"bad module name", []string{"load", "--name", "../x", counter}, 2, `wasmhot: load: --name "../x" is not a module name`},
		{"name with two files", []string{"load", "--name", "b", counter, counter}, 2, "--name goes with exactly one file"},
		{"noproc", []string{"send", "00000000-0000-0000-0000-000000000001", "hi"}, 1, "wasmhot: send 00000000-0000-0000-0000-000000000001: noproc"},
		{"bad pid", []string{"send", "nope", "hi"}, 1, `wasmhot: send nope: bad request: bad pid "nope"`},
		{"spawn args", []string{"spawn", "counter"}, 2, "wasmhot: spawn: want 2 argument(s)"},
		{"no node", []string{"modules", "--node", filepath.Join(dir, "none.sock")}, 1, "wasmhot: modules: node " + filepath.Join(dir, "none.sock")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := n.try(t, tc.args...)
			if code != tc.code || !strings.HasPrefix(errOut, "wasmhot: ") || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want %d and one line with %q", code, errOut, tc.code, tc.want)
			}
		})
	}
	// A bad module in an atomic load: neither is loaded.
	bad := filepath.Join(dir, "junk.wasm")
	if err := os.WriteFile(bad, []byte("\x00asm junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := writeWasm(t, dir, "a", "a_loop_v1")
	code, _, errOut := n.try(t, "load", good, bad)
	if code != 1 || !strings.Contains(errOut, "wasmhot: load a, junk: badfile: junk: ") {
		t.Errorf("atomic load with a bad module: exit %d, stderr %q", code, errOut)
	}
	out := n.cli(t, "modules")
	if strings.Contains(out, "\na ") || strings.Contains(out, "junk") {
		t.Errorf("a failed atomic load changed the modules:\n%s", out)
	}
}
