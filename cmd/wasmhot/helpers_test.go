package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
)

// waitTimeout bounds every wait for something to happen; tests never
// assert how long anything takes.
const waitTimeout = 20 * time.Second

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a node.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventually polls cond until it holds or waitTimeout passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitOutput waits until the buffer matches the regular expression and
// returns the first submatch (or the match).
func waitOutput(t *testing.T, b *syncBuffer, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	var m []string
	eventually(t, "output matching "+re, func() bool {
		m = rx.FindStringSubmatch(b.String())
		return m != nil
	})
	return m[len(m)-1]
}

// writeWasm writes the embedded guest as dir/name.wasm and returns its path.
// It goes through a rename, as build tools do, so a watcher never sees it
// half written.
func writeWasm(t *testing.T, dir, name, guest string) string {
	t.Helper()
	p := filepath.Join(dir, name+".wasm")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, guestexamples.Wasm(guest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// testNode is a `wasmhot serve` running in this process.
type testNode struct {
	sock           string
	dir            string
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan int
	once           sync.Once
	code           int
}

// startNode runs `wasmhot serve --socket DIR/n.sock args...` in a goroutine
// and waits until it listens. The test's cleanup stops it.
func startNode(t *testing.T, dir string, args ...string) *testNode {
	t.Helper()
	n := &testNode{sock: filepath.Join(dir, "n.sock"), dir: dir, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() {
		n.done <- run(ctx, append([]string{"wasmhot", "serve", "--socket", n.sock}, args...), n.stdout, n.stderr)
	}()
	t.Cleanup(func() { n.stop(t) })
	deadline := time.After(waitTimeout)
	for !strings.Contains(n.stderr.String(), "node listening on unix:") {
		select {
		case code := <-n.done:
			n.done <- code
			t.Fatalf("serve exited %d before listening; stderr:\n%s", code, n.stderr)
		case <-deadline:
			t.Fatalf("serve does not listen; stderr:\n%s", n.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return n
}

// stop interrupts the node (as SIGINT does) and returns its exit code.
func (n *testNode) stop(t *testing.T) int {
	t.Helper()
	n.once.Do(func() {
		n.cancel()
		select {
		case n.code = <-n.done:
		case <-time.After(waitTimeout):
			t.Errorf("serve did not stop")
			n.code = -1
		}
	})
	return n.code
}

// cli runs a client command against the node and fails the test unless it
// exits 0; it returns stdout.
func (n *testNode) cli(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := n.try(t, args...)
	if code != 0 {
		t.Fatalf("wasmhot %s: exit %d\nstderr: %s\nstdout: %s", strings.Join(args, " "), code, errOut, out)
	}
	return out
}

// try runs a client command against the node.
func (n *testNode) try(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	full := append([]string{args[0], "--node", n.sock}, args[1:]...)
	return runArgs(t, ctx, full...)
}
