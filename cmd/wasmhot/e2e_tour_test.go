package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The README's tour, as a shell runs it: the node is started in the
// background and a client command follows at once, without waiting for
// the socket; the client commands name processes by the 8-digit prefixes
// the demo and procs show; call --bytes reads standard input; logs
// --follow tells when the node goes away.
func TestEndToEndTour(t *testing.T) {
	tmp := t.TempDir()
	e := &e2e{bin: commandBinary(t), sock: filepath.Join(tmp, "n.sock"), dir: tmp}

	if out := e.cli(t, "--version"); !regexp.MustCompile(`^wasmhot \(devel\)\ngo go1\.\d+\S*\nwazero v\d+\.\d+\.\d+\S*\n$`).MatchString(out) {
		t.Errorf("--version: %q", out)
	}

	// No node: the client waits --wait, then fails as it always did.
	code, _, errOut := e.run(t, "modules", "--wait", "100ms")
	if code != 1 || !strings.Contains(errOut, "connect: no such file or directory (is a node running there?") {
		t.Errorf("modules without a node: exit %d, stderr %q", code, errOut)
	}

	// A client started before its node waits for it.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	early := command(ctx, e.bin, "load", e.write(t, "a", "a_loop_v1"))
	early.Env = append(early.Env, "WASMHOT_NODE="+e.sock, "WASMHOT_WAIT=20s")
	var earlyOut, earlyErr strings.Builder
	early.Stdout, early.Stderr = &earlyOut, &earlyErr
	if err := early.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the client looks for the socket before it exists
	node := e.serve(t, filepath.Join(tmp, "state"))
	if err := early.Wait(); err != nil || !strings.Contains(earlyOut.String(), "loaded a vsn 1") {
		t.Fatalf("load started before the node: %v; stdout %q, stderr %q", err, earlyOut.String(), earlyErr.String())
	}

	// Pids by their first 8 digits.
	pid := strings.TrimSpace(e.cli(t, "spawn", "a", "run_local"))
	short := pid[:8]
	e.cli(t, "send", short, "hello")
	waitOutput(t, node.stdout, `a v1 `+pid+`: v1 got hello`)
	if out := e.cli(t, "procs", short); !strings.Contains(out, pid+"  a ") {
		t.Errorf("procs %s: %q", short, out)
	}
	if got := e.cli(t, "check", short, "a"); got != "false\n" {
		t.Errorf("check %s a = %q", short, got)
	}
	if got := strings.TrimSpace(e.cli(t, "kill", short)); got != pid {
		t.Errorf("kill %s printed %q", short, got)
	}
	eventually(t, "the process to be killed", func() bool {
		return regexp.MustCompile(pid + `\s+a\s+-\s+exited\s+0\s+\d+\s+killed`).MatchString(e.cli(t, "procs", "--all"))
	})

	// A module nobody loaded: Erlang's answer, and a note.
	code, out, errOut := e.run(t, "purge", "nope")
	if code != 0 || out != "false\n" || errOut != "wasmhot: note: no module named nope is loaded on this node\n" {
		t.Errorf("purge nope: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// call --bytes, its input from standard input.
	e.cli(t, "load", e.write(t, "counter", "counter_v1"))
	in := command(ctx, e.bin, "call", "--bytes", "counter", "echo", "-")
	in.Env = append(in.Env, "WASMHOT_NODE="+e.sock)
	in.Stdin = strings.NewReader("from\x00stdin\n")
	got, err := in.Output()
	if err != nil || string(got) != "v1:from\x00stdin\n" {
		t.Errorf("call --bytes counter echo - = %q, %v", got, err)
	}

	// logs --follow outlives nothing: when the node stops, it says so and
	// exits 1.
	follow := command(ctx, e.bin, "logs", "--follow")
	follow.Env = append(follow.Env, "WASMHOT_NODE="+e.sock)
	fout, ferr := &syncBuffer{}, &syncBuffer{}
	follow.Stdout, follow.Stderr = fout, ferr
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, fout, `v1 got hello`) // the kept lines: the stream is open
	if code := node.stop(t); code != 0 {
		t.Errorf("serve exit %d; stderr:\n%s", code, node.stderr)
	}
	err = follow.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(ferr.String(), "wasmhot: logs: node "+e.sock+" went away") {
		t.Errorf("logs --follow after the node stopped: %v, stderr %q", err, ferr)
	}
}
