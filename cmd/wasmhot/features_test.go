package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/control"
	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
)

// version and --version print the module's, Go's and wazero's versions
// from the build information.
func TestVersion(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build information")
	}
	wazero := ""
	for _, d := range bi.Deps {
		if d.Path == wazeroPath {
			wazero = d.Version
		}
	}
	want := "wasmhot (devel)\ngo " + runtime.Version() + "\nwazero " + wazero + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, errOut := runArgs(t, context.Background(), args...)
		if code != 0 || out != want || errOut != "" {
			t.Errorf("wasmhot %s: exit %d, stdout %q, stderr %q; want 0, %q", args[0], code, out, errOut, want)
		}
	}
	if code, _, errOut := runArgs(t, context.Background(), "version", "x"); code != 2 || !strings.Contains(errOut, "takes no arguments") {
		t.Errorf("version x: exit %d, stderr %q", code, errOut)
	}
}

// The commands that name a process take a unique prefix of its pid; kill
// ends one; purge, soft-purge, delete and check of a module the node does
// not know print Erlang's answer and a note.
func TestProcessCommands(t *testing.T) {
	n := startNode(t, t.TempDir())
	n.cli(t, "load", writeWasm(t, n.dir, "a", "a_loop_v1"), writeWasm(t, n.dir, "counter", "counter_v1"), writeWasm(t, n.dir, "x", "probe"))
	pid := strings.TrimSpace(n.cli(t, "spawn", "a", "run_local"))
	short := pid[:8]
	n.cli(t, "send", short, "hello")
	waitOutput(t, n.stdout, `a v1 `+pid+`: v1 got hello`)
	if got := strings.TrimSpace(n.cli(t, "check", short, "a")); got != "false" {
		t.Errorf("check %s a = %s", short, got)
	}
	var ps []control.Process
	if err := json.Unmarshal([]byte(n.cli(t, "procs", "--json", pid[:4])), &ps); err != nil || len(ps) != 1 || ps[0].PID != pid {
		t.Errorf("procs %s: %+v, %v", pid[:4], ps, err)
	}
	if code, _, errOut := n.try(t, "procs", "--all", short); code != 2 || !strings.Contains(errOut, "not both") {
		t.Errorf("procs --all PID: exit %d, stderr %q", code, errOut)
	}
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"send", "ab", "x"}, `send ab: bad request: bad pid "ab": want a uuid, or a unique prefix of one of at least 4 hex digits`},
		{[]string{"kill", "zzzz"}, `kill zzzz: bad request: bad pid "zzzz"`},
		{[]string{"procs", "g000"}, `procs g000: bad request: bad pid "g000"`},
	} {
		if code, out, errOut := n.try(t, tc.args...); code != 1 || out != "" || !strings.Contains(errOut, tc.err) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 1, %q", tc.args, code, out, errOut, tc.err)
		}
	}

	// The Erlang answers for a module nobody loaded, and a note.
	// (delete last: after delete and purge, x would be gone too)
	for _, ca := range [][2]string{{"soft-purge", "true"}, {"purge", "false"}, {"delete", "false"}} {
		cmd, answer := ca[0], ca[1]
		code, out, errOut := n.try(t, cmd, "nope")
		if code != 0 || out != answer+"\n" || errOut != "wasmhot: note: no module named nope is loaded on this node\n" {
			t.Errorf("%s nope: exit %d, stdout %q, stderr %q", cmd, code, out, errOut)
		}
		if code, _, errOut := n.try(t, cmd, "x"); code != 0 || errOut != "" {
			t.Errorf("%s x: exit %d, stderr %q; want no note", cmd, code, errOut)
		}
	}
	if code, out, errOut := n.try(t, "check", short, "nope"); code != 0 || out != "false\n" || !strings.Contains(errOut, "no module named nope") {
		t.Errorf("check %s nope: exit %d, stdout %q, stderr %q", short, code, out, errOut)
	}

	// kill ends the process; killing it again is noproc.
	if got := strings.TrimSpace(n.cli(t, "kill", short)); got != pid {
		t.Errorf("kill %s printed %q, want %s", short, got, pid)
	}
	eventually(t, "the process to exit killed", func() bool {
		var ps []control.Process
		_ = json.Unmarshal([]byte(n.cli(t, "procs", "--json", short)), &ps)
		return len(ps) == 1 && ps[0].Exit != nil && ps[0].Exit.Reason == "killed"
	})
	if code, _, errOut := n.try(t, "kill", short); code != 1 || !strings.Contains(errOut, "noproc: process "+pid+" exited already: killed") {
		t.Errorf("kill again: exit %d, stderr %q", code, errOut)
	}

	// call --bytes: DATA in, raw bytes out.
	if out := n.cli(t, "call", "--bytes", "counter", "echo", "--", "-x y"); out != "v1:-x y" {
		t.Errorf("call --bytes counter echo: %q", out)
	}
	if out := n.cli(t, "call", "counter", "echo", "--bytes"); out != "v1:" {
		t.Errorf("call --bytes without DATA: %q", out)
	}
	if code, _, errOut := n.try(t, "call", "--bytes", "counter", "add", "x"); code != 1 || !strings.Contains(errOut, "call counter:add: badarity") {
		t.Errorf("call --bytes of a numbers function: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := n.try(t, "call", "--bytes", "counter", "echo", "a", "b"); code != 2 || !strings.Contains(errOut, "one DATA") {
		t.Errorf("call --bytes with two DATA: exit %d, stderr %q", code, errOut)
	}
}

// cacheFiles lists the compiled entries of a cache directory with their
// modification times (the host's index aside).
func cacheFiles(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), "wasmhot-cache-index") {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[path] = fi.ModTime().UnixNano()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// run keeps compiled code in --cache-dir: a second run of the same module
// compiles nothing (it writes no entry), and --cache-dir ” keeps none.
func TestRunCacheDir(t *testing.T) {
	dir := t.TempDir()
	probe := writeWasm(t, dir, "probe", "probe")
	cache := filepath.Join(dir, "cache")
	runProbe := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		full := append([]string{"run", "--entry", "probe:state_roundtrip"}, args...)
		if code, out, errOut := runArgs(t, ctx, append(full, probe)...); code != 0 {
			t.Fatalf("run: exit %d, stderr %q, stdout %q", code, errOut, out)
		}
	}
	runProbe("--cache-dir", cache)
	first := cacheFiles(t, cache)
	if len(first) == 0 {
		t.Fatal("the first run cached nothing")
	}
	runProbe("--cache-dir", cache)
	second := cacheFiles(t, cache)
	if len(second) != len(first) {
		t.Errorf("the second run wrote entries: %d before, %d after", len(first), len(second))
	}
	for p, mtime := range first {
		if second[p] != mtime {
			t.Errorf("the second run rewrote %s", p)
		}
	}
	// The default is under the user's cache directory (the tests' own).
	runProbe()
	if def := cacheFiles(t, defaultCacheDir()); len(def) == 0 || !strings.HasPrefix(defaultCacheDir(), os.Getenv("XDG_CACHE_HOME")) {
		t.Errorf("the default cache %s holds %d entries", defaultCacheDir(), len(def))
	}
	// --cache-dir '' caches nothing: a module not seen before leaves no
	// entry in the default cache.
	before := cacheFiles(t, defaultCacheDir())
	cpu := writeWasm(t, dir, "cpu", "cpu")
	if code, _, errOut := runArgs(t, ctxT(t), "run", "--cache-dir", "", "--entry", "cpu:nop", cpu); code != 0 {
		t.Errorf("run cpu: exit %d, stderr %q", code, errOut)
	}
	if after := cacheFiles(t, defaultCacheDir()); len(after) != len(before) {
		t.Errorf("--cache-dir '' cached: %d entries before, %d after", len(before), len(after))
	}
}

// pruneCache keeps a cache directory under its limit by removing the
// oldest entries.
func TestPruneCache(t *testing.T) {
	dir := t.TempDir()
	for i, name := range []string{"old", "mid", "new"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, 100), 0o600); err != nil {
			t.Fatal(err)
		}
		mt := time.Unix(1_000_000+int64(i), 0)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "wasmhot-cache-index.json"), make([]byte, 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	var msg syncBuffer
	pruneCache(dir, 250, &msg)
	left := cacheFiles(t, dir)
	if len(left) != 2 || left[filepath.Join(dir, "old")] != 0 {
		t.Errorf("left %v, want mid and new", left)
	}
	if !strings.Contains(msg.String(), "removed its 1 oldest entries") {
		t.Errorf("message %q", msg.String())
	}
	msg = syncBuffer{}
	pruneCache(dir, 250, &msg)
	if msg.String() != "" {
		t.Errorf("a cache under its limit: %q", msg.String())
	}
}

// run --watch starts the entry process again when a reload follows its
// crash.
func TestRunWatchRestart(t *testing.T) {
	dir := t.TempDir()
	writeWasm(t, dir, "m", "spinner") // its run spins in cpu:spin
	writeWasm(t, dir, "cpu", "cpu")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"wasmhot", "run", "--watch", "--fuel", "1000000", "--entry", "m:run", dir}, stdout, stderr)
	}()
	waitOutput(t, stderr, `every process has ended \(entry m:run: limit`)
	writeWasm(t, dir, "m", "test_v1") // its run loops, sleeping
	waitOutput(t, stderr, `reloaded m vsn 2`)
	pid := waitOutput(t, stderr, `the entry m:run had exited \(limit[^)]*\); restarted it in the new code as (\S+)\n`)
	waitOutput(t, stdout, regexp.QuoteMeta(`m v2 `+pid+`: this is old code`))
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, stderr)
	}
}

// writeFile writes content to path through a rename.
func writeFile(t *testing.T, path string, content []byte) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// buildDir makes a directory where the "build" copies the guest named in
// the source file which.h (any source extension would do): v1.bin, v2.bin
// (v1 and v2) or junk.bin (not a module; the build fails after copying
// it), to OUT. A file there without a source extension (a log) is no
// source.
func buildDir(t *testing.T, v1, v2 string) (dir, which string) {
	t.Helper()
	dir = t.TempDir()
	writeFile(t, filepath.Join(dir, "v1.bin"), guestexamples.Wasm(v1))
	writeFile(t, filepath.Join(dir, "v2.bin"), guestexamples.Wasm(v2))
	writeFile(t, filepath.Join(dir, "junk.bin"), []byte("not wasm"))
	which = filepath.Join(dir, "which.h")
	writeFile(t, which, []byte("v1"))
	return dir, which
}

// buildCommand is the shell command of buildDir's build, writing out.
func buildCommand(dir, out string) string {
	return `cd '` + dir + `' && w=$(cat which.h) && cp "$w.bin" '` + out + `' && date >> build.log && ` +
		`if [ "$w" = junk ]; then echo "junk is no module" >&2; exit 3; fi`
}

// run --watch --build builds first, builds again when a source changes
// (the sources default to the module file's directory, without the
// module file itself), reloads what a build made, and keeps the running
// code when a build fails.
func TestRunWatchBuild(t *testing.T) {
	dir, which := buildDir(t, "test_v1", "test_v2")
	out := filepath.Join(dir, "test.wasm")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"wasmhot", "run", "--watch", "--build", buildCommand(dir, out), "--entry", "test:run", "--state", "20", out}, stdout, stderr)
	}()
	waitOutput(t, stdout, `test v1 \S+: this is old code`)
	writeFile(t, which, []byte("v2"))
	waitOutput(t, stderr, `reloaded test vsn 2`)
	waitOutput(t, stdout, `test v2 \S+: this is new code`)
	writeFile(t, which, []byte("junk"))
	waitOutput(t, stderr, `build failed \(exit status 3\); the running code stays:\njunk is no module\n`)
	writeFile(t, which, []byte("v1"))
	waitOutput(t, stderr, `reloaded test vsn 3`)
	waitOutput(t, stdout, `test v3 \S+: this is old code`)
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, stderr)
	}
	// Four builds: the first, then one per change of which.h. The builds'
	// writes of test.wasm and build.log start none, and the junk was never
	// loaded.
	if n := strings.Count(stderr.String(), "wasmhot: building: "); n != 4 {
		t.Errorf("%d builds, want 4; stderr:\n%s", n, stderr)
	}
	if strings.Contains(stderr.String(), "reload:") {
		t.Errorf("a failed build's output was loaded; stderr:\n%s", stderr)
	}
	// A first build that fails ends run.
	writeFile(t, which, []byte("junk"))
	code, _, errOut := runArgs(t, ctxT(t), "run", "--build", buildCommand(dir, out), "--entry", "test:run", out)
	if code != 1 || !strings.Contains(errOut, "junk is no module") || !strings.Contains(errOut, "run "+out+": the build failed") {
		t.Errorf("a failing first build: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runArgs(t, ctxT(t), "run", "--build-watch", dir, out); code != 2 || !strings.Contains(errOut, "--build-watch goes with --build") {
		t.Errorf("--build-watch alone: exit %d, stderr %q", code, errOut)
	}
}

// watch --build pushes what each successful build makes into the node.
func TestWatchBuild(t *testing.T) {
	src, which := buildDir(t, "counter_v1", "counter_v2")
	outDir := t.TempDir()
	out := filepath.Join(outDir, "counter.wasm")
	n := startNode(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"wasmhot", "watch", "--node", n.sock, "--interval", "20ms",
			"--build", buildCommand(src, out), "--build-watch", filepath.Join(src, "*.h"), outDir}, stdout, stderr)
	}()
	waitOutput(t, stdout, `loaded counter vsn 1`)
	writeFile(t, which, []byte("v2"))
	waitOutput(t, stdout, `loaded counter vsn 2`)
	writeFile(t, which, []byte("junk"))
	waitOutput(t, stderr, `junk is no module`)
	if got := strings.TrimSpace(n.cli(t, "call", "counter", "version")); got != "2" {
		t.Errorf("counter:version() = %s after a failed build", got)
	}
	writeFile(t, which, []byte("v1"))
	waitOutput(t, stdout, `loaded counter vsn 3`)
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("watch exit %d; stderr:\n%s", code, stderr)
	}
	if strings.Contains(stderr.String(), "badfile") {
		t.Errorf("a failed build's output was pushed; stderr:\n%s", stderr)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// A client command waits up to --wait for its node to listen.
func TestClientWaitsForNode(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "n.sock")
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctxT(t), []string{"wasmhot", "modules", "--node", sock, "--wait", "20s"}, stdout, stderr)
	}()
	time.Sleep(200 * time.Millisecond) // it finds no socket, several times
	select {
	case code := <-done:
		t.Fatalf("modules ended (exit %d, stderr %q) before the node started", code, stderr)
	default:
	}
	// The node runs in a subprocess: urfave/cli's flags are globals that
	// two commands must not parse at once in one process.
	e := &e2e{bin: commandBinary(t), sock: sock, dir: dir}
	e.serve(t, filepath.Join(dir, "state"))
	if code := <-done; code != 0 || !strings.HasPrefix(stdout.String(), "MODULE") {
		t.Errorf("modules: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, errOut := runArgs(t, ctxT(t), "modules", "--node", filepath.Join(dir, "none.sock"), "--wait", "0")
	if code != 1 || !strings.Contains(errOut, "none.sock: connect: no such file or directory (is a node running there?") {
		t.Errorf("no node: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runArgs(t, ctxT(t), "modules", "--wait", "-1s"); code != 2 || !strings.Contains(errOut, "--wait -1s: want 0 or more") {
		t.Errorf("--wait -1s: exit %d, stderr %q", code, errOut)
	}
}
