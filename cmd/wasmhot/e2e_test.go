package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/control"
	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
)

// The seeds' story, end to end: the wasmhot command serves a
// node as a subprocess, and client commands, subprocesses too, drive it
// through the remote-reload workflow; then the node stops on SIGTERM and a
// new node on the same state directory comes back with the same code.
func TestEndToEnd(t *testing.T) {
	tmp := t.TempDir()
	bin := commandBinary(t)
	sock := filepath.Join(tmp, "n.sock")
	stateDir := filepath.Join(tmp, "state")
	e := &e2e{bin: bin, sock: sock, dir: tmp}

	node := e.serve(t, stateDir)

	// 1. test v1 runs a loop that continues through test:run.
	test := e.write(t, "test", "test_v1")
	if out := e.cli(t, "load", test); !strings.Contains(out, "loaded test vsn 1") {
		t.Fatalf("load test v1: %q", out)
	}
	loop := strings.TrimSpace(e.cli(t, "spawn", "test", "run", "--state", "50"))
	waitOutput(t, node.stdout, `test v1 `+loop+`: this is old code`)

	// 2. Edit, load: the loop moves to v2 at its next continue(run).
	e.write(t, "test", "test_v2")
	if out := e.cli(t, "load", test); !strings.Contains(out, "loaded test vsn 2") {
		t.Fatalf("load test v2: %q", out)
	}
	waitOutput(t, node.stdout, `test v2 `+loop+`: this is new code`)
	// Nothing lingers in test v1 any more: soft purge frees it.
	if got := strings.TrimSpace(e.cli(t, "soft-purge", "test")); got != "true" {
		t.Errorf("soft-purge test with no process in old code = %s, want true", got)
	}

	// 3. A process in a local loop lingers in a v1 after a v2 is loaded.
	a := e.write(t, "a", "a_loop_v1")
	e.cli(t, "load", a)
	local := strings.TrimSpace(e.cli(t, "spawn", "a", "run_local"))
	e.cli(t, "send", local, "hello")
	waitOutput(t, node.stdout, `a v1 `+local+`: v1 got hello`)
	e.write(t, "a", "a_loop_v2")
	if out := e.cli(t, "load", a); !strings.Contains(out, "loaded a vsn 2") || !strings.Contains(out, "old vsn 1, 1 lingering") {
		t.Fatalf("load a v2: %q", out)
	}
	if got := strings.TrimSpace(e.cli(t, "soft-purge", "a")); got != "false" {
		t.Errorf("soft-purge a with a lingering process = %s, want false", got)
	}
	code, _, errOut := e.run(t, "load", a)
	if want := "wasmhot: load a: not purged: old code still in use by 1 process; use --purge to kill it\n"; code != 1 || errOut != want {
		t.Errorf("load a over old code: exit %d, stderr %q; want 1, %q", code, errOut, want)
	}
	if got := strings.TrimSpace(e.cli(t, "purge", "a")); got != "true" {
		t.Errorf("purge a = %s, want true", got)
	}
	var procs []control.Process
	if err := json.Unmarshal([]byte(e.cli(t, "procs", "--all", "--json")), &procs); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range procs {
		if p.PID == local {
			found = true
			if p.Status != "exited" || p.Exit == nil || p.Exit.Reason != "killed" {
				t.Errorf("the purged process: %+v, exit %+v; want exited, killed", p, p.Exit)
			}
		}
	}
	if !found {
		t.Errorf("procs --all lacks the purged process %s: %+v", local, procs)
	}

	before := e.currentSHA256(t)
	for name, guest := range map[string]string{"test": "test_v2", "a": "a_loop_v2"} {
		sum := sha256.Sum256(guestexamples.Wasm(guest))
		if before[name] != hex.EncodeToString(sum[:]) {
			t.Errorf("module %s runs sha256 %q, want %s's", name, before[name], guest)
		}
	}

	// 4. SIGTERM: the node exits 0 and removes its socket.
	if code := node.stop(t); code != 0 {
		t.Errorf("serve exit %d on SIGTERM; stderr:\n%s", code, node.stderr)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after SIGTERM: %v", err)
	}

	// 5. A node on the same state directory runs the same current code.
	node = e.serve(t, stateDir)
	waitOutput(t, node.stderr, `restored 2 module\(s\)`)
	after := e.currentSHA256(t)
	for _, name := range []string{"test", "a"} {
		if after[name] != before[name] {
			t.Errorf("after the restart %s runs sha256 %q, before %q", name, after[name], before[name])
		}
	}
	if code := node.stop(t); code != 0 {
		t.Errorf("restarted serve exit %d on SIGTERM; stderr:\n%s", code, node.stderr)
	}
}

// asMain is the environment variable that makes the test binary run as
// the wasmhot command (TestMain): the end-to-end tests run it as their
// subprocesses, which needs no build of the command (on a cold build
// cache, a minute of compiling wazero again without the race detector).
const asMain = "WASMHOT_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMain) == "1" {
		main()
	}
	// `wasmhot run` caches compiled code in the user's cache directory
	// by default: the tests' runs use one of their own.
	cache, err := os.MkdirTemp("", "wasmhot-test-cache-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CACHE_HOME", cache)
	code := m.Run()
	os.RemoveAll(cache)
	os.Exit(code)
}

// commandBinary returns the path of the wasmhot command for subprocesses:
// this test binary, run with asMain set (see command).
func commandBinary(t *testing.T) string {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// command is exec.CommandContext of the wasmhot command.
func command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), asMain+"=1")
	return cmd
}

// e2e runs the built binary.
type e2e struct {
	bin, sock, dir string
}

// e2eNode is a `wasmhot serve` subprocess.
type e2eNode struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	code           int
}

// serve starts the node and waits until it listens; the test's cleanup
// kills it if it is still running.
func (e *e2e) serve(t *testing.T, stateDir string) *e2eNode {
	t.Helper()
	return e.serveWith(t, "--state-dir", stateDir)
}

// serveWith starts `wasmhot serve --socket SOCK args...` as serve does.
func (e *e2e) serveWith(t *testing.T, args ...string) *e2eNode {
	t.Helper()
	n := &e2eNode{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	n.cmd = command(context.Background(), e.bin, append([]string{"serve", "--socket", e.sock}, args...)...)
	n.cmd.Stdout, n.cmd.Stderr = n.stdout, n.stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = n.cmd.Wait()
		n.code = n.cmd.ProcessState.ExitCode()
		close(n.done)
	}()
	t.Cleanup(func() {
		select {
		case <-n.done:
		default:
			_ = n.cmd.Process.Kill()
			<-n.done
		}
	})
	deadline := time.After(waitTimeout)
	for !strings.Contains(n.stderr.String(), "node listening on unix:"+e.sock) {
		select {
		case <-n.done:
			t.Fatalf("serve exited %d before listening; stderr:\n%s", n.code, n.stderr)
		case <-deadline:
			t.Fatalf("serve does not listen; stderr:\n%s", n.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return n
}

// stop sends the node SIGTERM and returns its exit code.
func (n *e2eNode) stop(t *testing.T) int {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.done:
		return n.code
	case <-time.After(waitTimeout):
		t.Fatalf("serve did not stop on SIGTERM; stderr:\n%s", n.stderr)
		return -1
	}
}

// run runs a client command against the node.
func (e *e2e) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cmd := command(ctx, e.bin, args...)
	cmd.Dir = e.dir
	cmd.Env = append(cmd.Env, "WASMHOT_NODE="+e.sock)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("wasmhot %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// cli runs a client command and fails the test unless it exits 0.
func (e *e2e) cli(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := e.run(t, args...)
	if code != 0 {
		t.Fatalf("wasmhot %s: exit %d\nstderr: %s\nstdout: %s", strings.Join(args, " "), code, errOut, out)
	}
	return out
}

// write writes the embedded guest as NAME.wasm (as an editor would save
// it) and returns its path.
func (e *e2e) write(t *testing.T, name, guest string) string {
	t.Helper()
	return writeWasm(t, e.dir, name, guest)
}

// currentSHA256 returns each module's current sha256, from modules --json.
func (e *e2e) currentSHA256(t *testing.T) map[string]string {
	t.Helper()
	var mods []control.Module
	if err := json.Unmarshal([]byte(e.cli(t, "modules", "--json")), &mods); err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	for _, m := range mods {
		if m.Current != nil {
			sums[m.Name] = m.Current.SHA256
		}
	}
	return sums
}
