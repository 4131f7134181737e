// Package hosttest drives a wasmhot host in tests: a host with a captured
// guest log, and helpers to spawn processes, send them messages and check
// the lines they log, as Erlang's scenarios do with ping messages.
package hosttest

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/host"
)

// Timeout bounds every wait of the helpers.
const Timeout = 20 * time.Second

// Log collects guest log lines.
type Log struct {
	mu    sync.Mutex
	buf   []byte
	lines []string
}

// Write implements io.Writer for host.Config.WithLog.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.lines = append(l.lines, string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}

// Text returns the guest's part of every line (after "module vN pid: ").
func (l *Log) Text() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.lines))
	for i, s := range l.lines {
		if j := strings.Index(s, ": "); j >= 0 {
			s = s[j+2:]
		}
		out[i] = s
	}
	return out
}

// Of returns the guest text of pid's lines.
func (l *Log) Of(pid host.PID) []string {
	tag := pid.String() + ": "
	l.mu.Lock()
	defer l.mu.Unlock()
	var got []string
	for _, s := range l.lines {
		if i := strings.Index(s, tag); i >= 0 {
			got = append(got, s[i+len(tag):])
		}
	}
	return got
}

// WaitFor polls cond until it holds, failing the test after Timeout.
func WaitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond)
	}
}

// Node is a host with a captured log.
type Node struct {
	T   testing.TB
	H   *host.Host
	Log *Log
}

// NewNode starts a host with cfg, its log captured; the test closes it.
func NewNode(t testing.TB, cfg host.Config) *Node {
	t.Helper()
	lg := &Log{}
	h, err := host.New(context.Background(), cfg.WithLog(lg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return &Node{T: t, H: h, Log: lg}
}

// Load loads wasm as module name.
func (n *Node) Load(name string, wasm []byte) host.VersionInfo {
	n.T.Helper()
	vi, err := n.H.Load(context.Background(), name, wasm)
	if err != nil {
		n.T.Fatalf("load %s: %v", name, err)
	}
	return vi
}

// Spawn starts mod:fn with state.
func (n *Node) Spawn(mod, fn, state string) host.PID {
	n.T.Helper()
	pid, err := n.H.Spawn(context.Background(), mod, fn, []byte(state))
	if err != nil {
		n.T.Fatalf("spawn %s:%s: %v", mod, fn, err)
	}
	return pid
}

// Send sends each message to pid.
func (n *Node) Send(pid host.PID, msgs ...string) {
	n.T.Helper()
	for _, m := range msgs {
		if err := n.H.Send(pid, []byte(m)); err != nil {
			n.T.Fatalf("send %q: %v", m, err)
		}
	}
}

// Lines returns the guest text of pid's log lines once there are at least
// want of them.
func (n *Node) Lines(pid host.PID, want int) []string {
	n.T.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		got := n.Log.Of(pid)
		if len(got) >= want {
			return got
		}
		if time.Now().After(deadline) {
			n.T.Fatalf("pid %s: waited for %d lines, have %q", pid, want, got)
		}
		time.Sleep(time.Millisecond)
	}
}

// Expect sends msgs to pid and checks the lines they make it log.
func (n *Node) Expect(pid host.PID, msgs []string, want ...string) {
	n.T.Helper()
	before := len(n.Log.Of(pid))
	n.Send(pid, msgs...)
	got := n.Lines(pid, before+len(want))[before:]
	if !reflect.DeepEqual(got, want) {
		n.T.Fatalf("pid %s after %.60q: got %q, want %q", pid, msgs, got, want)
	}
}

// Receiving waits until pid is blocked in receive (or a sleep). A guest
// logs what it did with a message before it reaches the upgrade point
// that follows (a continue), so a test that loads new code right after a
// line arrived would race that point; once the process waits in receive,
// it is past it.
func (n *Node) Receiving(pid host.PID) {
	n.T.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		pi, err := n.H.Process(pid)
		if err != nil {
			n.T.Fatalf("process %s: %v", pid, err)
		}
		if pi.Status == host.Suspended {
			return
		}
		if time.Now().After(deadline) {
			n.T.Fatalf("pid %s: still %s after %v", pid, pi.Status, Timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// Exit waits for pid to exit.
func (n *Node) Exit(pid host.PID) host.Exit {
	n.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	e, err := n.H.Wait(ctx, pid)
	if err != nil {
		n.T.Fatalf("wait %s: %v", pid, err)
	}
	return e
}

// Check is check_process_code(pid, module).
func (n *Node) Check(pid host.PID, module string) bool {
	n.T.Helper()
	ok, err := n.H.CheckProcessCode(pid, module)
	if err != nil {
		n.T.Fatal(err)
	}
	return ok
}

// SoftPurge is code:soft_purge(module).
func (n *Node) SoftPurge(module string) bool {
	n.T.Helper()
	ok, err := n.H.SoftPurge(context.Background(), module)
	if err != nil {
		n.T.Fatal(err)
	}
	return ok
}

// Purge is code:purge(module): whether it killed a process.
func (n *Node) Purge(module string) bool {
	n.T.Helper()
	r, err := n.H.Purge(context.Background(), module)
	if err != nil {
		n.T.Fatal(err)
	}
	return r.KilledAny()
}
