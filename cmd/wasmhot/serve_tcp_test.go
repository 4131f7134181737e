package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmhot/wasmhot/control"
)

func TestServeTCPToken(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrongFile := filepath.Join(dir, "wrong")
	if err := os.WriteFile(wrongFile, []byte("s3cret-token-0123456780"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, dir, "--listen", "127.0.0.1:0", "--token-file", tokenFile)
	addr := waitOutput(t, n.stderr, `node listening on tcp:(\S+)`)
	a := writeWasm(t, dir, "a", "a_loop_v1")

	tcp := func(args ...string) (int, string, string) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		return runArgs(t, ctx, append([]string{args[0], "--node", addr}, args[1:]...)...)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no token", []string{"load", a}},
		{"wrong token", []string{"load", "--token-file", wrongFile, a}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := tcp(tc.args...)
			if code != 1 || !strings.HasPrefix(errOut, "wasmhot: load a: unauthorized") {
				t.Errorf("exit %d, stderr %q; want 1, wasmhot: load a: unauthorized", code, errOut)
			}
		})
	}
	if out := n.cli(t, "modules"); strings.Contains(out, "\na ") {
		t.Fatalf("an unauthorized load changed the node:\n%s", out)
	}
	code, out, errOut := tcp("load", "--token-file", tokenFile, a)
	if code != 0 || !strings.Contains(out, "loaded a vsn 1") {
		t.Fatalf("load with the token: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Setenv("WASMHOT_NODE", addr)
	t.Setenv("WASMHOT_TOKEN_FILE", tokenFile)
	code, out, errOut = runArgs(t, context.Background(), "modules", "--json")
	var mods []control.Module
	if code != 0 || json.Unmarshal([]byte(out), &mods) != nil || len(mods) != 1 {
		t.Fatalf("modules through $WASMHOT_NODE: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestServeFlags(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token-0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "n.sock")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"non-loopback", []string{"--listen", "0.0.0.0:0", "--token-file", tokenFile}, 2, "non-loopback"},
		{"all interfaces", []string{"--listen", ":0", "--token-file", tokenFile}, 2, "non-loopback"},
		{"listen without token", []string{"--listen", "127.0.0.1:0"}, 2, "--listen and --token-file go together"},
		{"token without listen", []string{"--token-file", tokenFile}, 2, "--listen and --token-file go together"},
		{"short token", []string{"--listen", "127.0.0.1:0", "--token-file", short}, 1, "at least 16"},
		{"bad mode", []string{"--mode", "lazy"}, 2, "want interactive or embedded"},
		{"bad exec", []string{"--exec", "fast"}, 2, "want sandboxed or trusted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			code, _, errOut := runArgs(t, ctx, append([]string{"serve", "--socket", sock}, tc.args...)...)
			if code != tc.code || !strings.HasPrefix(errOut, "wasmhot: serve") || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tc.code, tc.want)
			}
			if _, err := os.Stat(sock); !os.IsNotExist(err) {
				t.Errorf("socket left behind: %v", err)
			}
		})
	}
	// A second node on a live socket is refused; the first keeps it.
	n := startNode(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	code, _, errOut := runArgs(t, ctx, "serve", "--socket", n.sock)
	if code != 1 || !strings.Contains(errOut, "already listening") {
		t.Errorf("second node: exit %d, stderr %q", code, errOut)
	}
	n.cli(t, "modules")

	// A second node on a state directory in use is refused too, even on
	// another socket.
	state := filepath.Join(dir, "state")
	n2 := startNode(t, t.TempDir(), "--state-dir", state)
	code, _, errOut = runArgs(t, ctx, "serve", "--socket", filepath.Join(t.TempDir(), "other.sock"), "--state-dir", state)
	if code != 1 || !strings.Contains(errOut, "another node uses it") {
		t.Errorf("second node on the state dir: exit %d, stderr %q", code, errOut)
	}
	n2.cli(t, "modules")
}

// A node restarted on the same state directory runs the same current
// versions (same sha256), with their sticky flags; old code is not
// restored.
func TestServeStateDir(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	n := startNode(t, dir, "--state-dir", state)
	a := writeWasm(t, dir, "a", "a_loop_v1")
	n.cli(t, "load", a)
	writeWasm(t, dir, "a", "a_loop_v2")
	n.cli(t, "load", a)
	n.cli(t, "load", "--sticky", writeWasm(t, dir, "counter", "counter_v1"))
	before := modulesJSON(t, n)
	if code := n.stop(t); code != 0 {
		t.Fatalf("serve exit %d: %s", code, n.stderr)
	}

	// A state dir others can write is used, with a warning.
	if err := os.Chmod(state, 0o777); err != nil {
		t.Fatal(err)
	}
	n2 := startNode(t, dir, "--state-dir", state)
	if !strings.Contains(n2.stderr.String(), "restored 2 module(s)") || !strings.Contains(n2.stderr.String(), "writable by others") {
		t.Errorf("stderr: %s", n2.stderr)
	}
	after := modulesJSON(t, n2)
	if len(after) != 2 {
		t.Fatalf("after restart: %+v", after)
	}
	for i, m := range after {
		b := before[i]
		if m.Name != b.Name || m.Current == nil || m.Current.SHA256 != b.Current.SHA256 || m.Sticky != b.Sticky {
			t.Errorf("module %d after restart: %+v, before: %+v", i, m, b)
		}
		if m.Old != nil {
			t.Errorf("%s: old code restored", m.Name)
		}
	}
	if !after[1].Sticky || after[1].Name != "counter" {
		t.Errorf("counter is not sticky after restart: %+v", after[1])
	}
	// Purged versions leave the state directory; the current ones stay.
	n2.cli(t, "load", writeWasm(t, dir, "a", "a_loop_v3"))
	n2.cli(t, "purge", "a")
	n2.cli(t, "delete", "a")
	n2.cli(t, "purge", "a")
	blobs, err := os.ReadDir(filepath.Join(state, "blobs"))
	if err != nil || len(blobs) != 1 {
		t.Errorf("blobs after purging every version of a: %v, %v", blobs, err)
	}
}

func modulesJSON(t *testing.T, n *testNode) []control.Module {
	t.Helper()
	var mods []control.Module
	if err := json.Unmarshal([]byte(n.cli(t, "modules", "--json")), &mods); err != nil {
		t.Fatal(err)
	}
	return mods
}
