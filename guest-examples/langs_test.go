package guestexamples_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/host"
)

// The guests written in Go and C (go/, c/, built into wasm-langs/ by
// build-langs.sh) against the rows 1-4 of the behaviour table, with the
// assertions of host/conformance_test.go, in both execution modes.
//
// The tests read the .wasm files from wasm-langs/: the committed ones, or
// the ones CI has just rebuilt into the same paths (.ci/run).

var ctx = context.Background()

// cacheDir is a compilation cache shared by the hosts of these tests, so
// that each guest is compiled once per execution mode rather than once per
// test (a Go guest takes about 0.7 s to compile, ten times that under the
// race detector).
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasmhot-langs-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// langWasm returns wasm-langs/NAME.wasm.
func langWasm(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("wasm-langs", name+".wasm"))
	if err != nil {
		t.Fatalf("%v (build the guests with guest-examples/build-langs.sh)", err)
	}
	return b
}

// logLines collects guest log lines.
type logLines struct {
	mu    sync.Mutex
	buf   []byte
	lines []string
}

func (l *logLines) Write(p []byte) (int, error) {
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

// node is a host with a captured log, for process scenarios.
type node struct {
	t   *testing.T
	h   *host.Host
	log *logLines
}

func newNode(t *testing.T, cfg host.Config) *node {
	t.Helper()
	lg := &logLines{}
	h, err := host.New(ctx, cfg.WithWASI("*").WithLog(lg).WithCompilationCacheDir(cacheDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(ctx) })
	return &node{t: t, h: h, log: lg}
}

func (n *node) load(name string, wasm []byte) {
	n.t.Helper()
	if _, err := n.h.Load(ctx, name, wasm); err != nil {
		n.t.Fatalf("load %s: %v", name, err)
	}
}

func (n *node) spawn(mod, fn, state string) host.PID {
	n.t.Helper()
	pid, err := n.h.Spawn(ctx, mod, fn, []byte(state))
	if err != nil {
		n.t.Fatalf("spawn %s:%s: %v", mod, fn, err)
	}
	return pid
}

func (n *node) send(pid host.PID, msgs ...string) {
	n.t.Helper()
	for _, m := range msgs {
		if err := n.h.Send(pid, []byte(m)); err != nil {
			n.t.Fatalf("send %q: %v", m, err)
		}
	}
}

// lines returns the guest text of pid's log lines once there are at least
// want of them.
func (n *node) lines(pid host.PID, want int) []string {
	n.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tag := pid.String() + ": "
	for {
		var got []string
		n.log.mu.Lock()
		for _, l := range n.log.lines {
			if i := strings.Index(l, tag); i >= 0 {
				got = append(got, l[i+len(tag):])
			}
		}
		n.log.mu.Unlock()
		if len(got) >= want {
			return got
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("pid %s: waited for %d lines, have %q", pid, want, got)
		}
		time.Sleep(time.Millisecond)
	}
}

// expect sends msgs to pid and checks the lines they produce.
func (n *node) expect(pid host.PID, msgs []string, want ...string) {
	n.t.Helper()
	before := len(n.lines(pid, 0))
	n.send(pid, msgs...)
	got := n.lines(pid, before+len(want))[before:]
	if !reflect.DeepEqual(got, want) {
		n.t.Fatalf("pid %s after %.60q: got %q, want %q", pid, msgs, got, want)
	}
}

func (n *node) exit(pid host.PID) host.Exit {
	n.t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	e, err := n.h.Wait(c, pid)
	if err != nil {
		n.t.Fatalf("wait %s: %v", pid, err)
	}
	return e
}

func (n *node) check(pid host.PID, module string) bool {
	n.t.Helper()
	ok, err := n.h.CheckProcessCode(pid, module)
	if err != nil {
		n.t.Fatal(err)
	}
	return ok
}

func (n *node) softPurge(module string) bool {
	n.t.Helper()
	ok, err := n.h.SoftPurge(ctx, module)
	if err != nil {
		n.t.Fatal(err)
	}
	return ok
}

func (n *node) purge(module string) bool {
	n.t.Helper()
	r, err := n.h.Purge(ctx, module)
	if err != nil {
		n.t.Fatal(err)
	}
	return r.KilledAny()
}

func repeat(s string, k int) []string {
	out := make([]string, k)
	for i := range out {
		out[i] = s
	}
	return out
}

// langRow is a row of the behaviour table run with the guests of one
// language; wasm(prog, v) returns that language's build of prog version v.
type langRow struct {
	name string
	run  func(t *testing.T, n *node, wasm func(prog string, v int) []byte)
}

var langRows = []langRow{
	{"1_external_self_call_upgrades", func(t *testing.T, n *node, wasm func(string, int) []byte) {
		n.load("test", wasm("test", 1))
		p := n.spawn("test", "run", "-1") // -1: a tick is a message, no timer
		if got := n.lines(p, 1); got[0] != "this is old code" {
			t.Fatalf("first line %q", got[0])
		}
		n.expect(p, []string{"t", "t"}, "this is old code", "this is old code")
		n.load("test", wasm("test", 2))
		if !n.check(p, "test") {
			t.Error("waiting in v1: check_process_code = false, want true")
		}
		// The tick it waits for is taken by v1; its continue("run") enters v2.
		n.expect(p, []string{"t", "t"}, "this is new code", "this is new code")
		if n.check(p, "test") {
			t.Error("after the upgrade: check_process_code = true, want false")
		}
		n.send(p, "stop")
		if e := n.exit(p); e.Reason != host.Normal {
			t.Errorf("exit %v, want normal", e)
		}
	}},
	{"2_local_loop_stays_in_old_code", func(t *testing.T, n *node, wasm func(string, int) []byte) {
		n.load("test", wasm("test", 1))
		p := n.spawn("test", "run_local", "-1")
		n.lines(p, 1)
		n.expect(p, []string{"t"}, "this is old code")
		n.load("test", wasm("test", 2))
		n.expect(p, repeat("t", 100), repeat("this is old code", 100)...)
		if !n.check(p, "test") {
			t.Error("check_process_code = false, want true")
		}
		if !n.purge("test") {
			t.Error("purge killed no one")
		}
		if e := n.exit(p); e.Reason != host.Killed {
			t.Errorf("exit %v, want killed", e)
		}
	}},
	{"3_external_helper_call_local_recursion", func(t *testing.T, n *node, wasm func(string, int) []byte) {
		n.load("test2", wasm("test2", 1))
		p := n.spawn("test2", "loop", "")
		n.expect(p, []string{"t", "t"}, "[loop v1 body] f() -> v1", "[loop v1 body] f() -> v1")
		n.load("test2", wasm("test2", 2))
		// The new f, the old loop body: the new line is never printed.
		n.expect(p, []string{"t", "t", "t"}, repeat("[loop v1 body] f() -> v2", 3)...)
		if !n.check(p, "test2") || n.softPurge("test2") {
			t.Fatal("want check_process_code true and soft_purge false")
		}
		if !n.purge("test2") {
			t.Fatal("purge = false")
		}
		if e := n.exit(p); e.Reason != host.Killed {
			t.Fatalf("exit %v, want killed", e)
		}
		// A process started now runs v2 whole.
		p = n.spawn("test2", "loop", "")
		n.expect(p, []string{"t"}, "NEW CODE LINE IN LOOP", "[loop v2 body] f() -> v2")
	}},
	{"4_controlled_upgrade_with_state_transform", func(t *testing.T, n *node, wasm func(string, int) []byte) {
		n.load("hotfix", wasm("hotfix", 1))
		srv := n.spawn("hotfix", "server", "")
		n.expect(srv, []string{"incr", "get", "incr", "get"}, "v1 count=1", "v1 count=2")
		n.load("hotfix", wasm("hotfix", 2))
		n.expect(srv, []string{"incr", "get", "get"}, "v1 count=3", "v1 count=3")
		if !n.check(srv, "hotfix") || n.softPurge("hotfix") {
			t.Error("before update: want check_process_code true, soft_purge false")
		}
		n.expect(srv, []string{"update", "get"}, "v2 count=3 from=1")
		n.expect(srv, []string{"incr", "get"}, "v2 count=13 from=1")
		if n.check(srv, "hotfix") {
			t.Error("after update: check_process_code = true")
		}
		if !n.softPurge("hotfix") {
			t.Error("after update: soft_purge = false")
		}
		// A second update with no new code keeps the state.
		n.expect(srv, []string{"update", "get"}, "v2 count=13 from=1")
		n.send(srv, "stop")
		if e := n.exit(srv); e.Reason != host.Normal {
			t.Errorf("exit %v, want normal", e)
		}
	}},
}

var langs = []string{"go", "c"}

// TestLangConformance runs rows 1-4 with the Go and the C guests, each in
// both execution modes. The subtests run in parallel: most of their time is
// wazero compiling the Go guests.
func TestLangConformance(t *testing.T) {
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			wasm := func(prog string, v int) []byte { return langWasm(t, fmt.Sprintf("%s_%s_v%d", lang, prog, v)) }
			for _, row := range langRows {
				t.Run(row.name, func(t *testing.T) {
					for _, mode := range []host.Mode{host.Sandboxed, host.Trusted} {
						t.Run(mode.String(), func(t *testing.T) {
							t.Parallel()
							row.run(t, newNode(t, host.NewConfig().WithMode(mode)), wasm)
						})
					}
				})
			}
		})
	}
}

// TestLangSeedsLoop runs the seeds' program as they wrote it: the loop
// ticks on its own timer (20 ms here), the new code is loaded while it
// runs, and the log shows old code, then new code, never old again.
func TestLangSeedsLoop(t *testing.T) {
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			n := newNode(t, host.NewConfig())
			n.load("test", langWasm(t, lang+"_test_v1"))
			p := n.spawn("test", "run", "20")
			n.lines(p, 3)
			n.load("test", langWasm(t, lang+"_test_v2"))
			var got []string
			for {
				got = n.lines(p, len(got)+1)
				if got[len(got)-1] == "this is new code" {
					break
				}
			}
			got = n.lines(p, len(got)+3)
			first := -1
			for i, l := range got {
				switch {
				case l == "this is new code" && first < 0:
					first = i
				case l == "this is old code" && first >= 0:
					t.Fatalf("old code after new code: %q", got)
				case l != "this is new code" && l != "this is old code":
					t.Fatalf("unexpected line %q", l)
				}
			}
			t.Logf("%s: %d lines of old code, then new code", lang, first)
			n.send(p, "stop")
			if e := n.exit(p); e.Reason != host.Normal {
				t.Errorf("exit %v, want normal", e)
			}
		})
	}
}

// TestLangLargeMessage: a message larger than the guest's receive buffer
// (4 KiB in the Go SDK, 64 bytes in the C test) is still received whole and
// taken off the mailbox: a 100 KiB "stop..." ends the loop.
func TestLangLargeMessage(t *testing.T) {
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			n := newNode(t, host.NewConfig())
			n.load("test", langWasm(t, lang+"_test_v1"))
			p := n.spawn("test", "run_local", "-1")
			n.lines(p, 1)
			n.expect(p, []string{strings.Repeat("x", 100<<10)}, "this is old code")
			n.send(p, "s"+strings.Repeat("x", 100<<10))
			if e := n.exit(p); e.Reason != host.Normal {
				t.Errorf("exit %v, want normal", e)
			}
		})
	}
}

// TestLangCrossLanguageUpgrade: the hotfix guests share their state layout,
// so a process upgrades from one language to another: WAT v1 to Go v2, and
// Go v1 to C v2, with code_change transforming the state.
func TestLangCrossLanguageUpgrade(t *testing.T) {
	for _, c := range []struct{ v1, v2 []byte }{
		{guestexamples.Wasm("hotfix_v1"), langWasm(t, "go_hotfix_v2")},
		{langWasm(t, "go_hotfix_v1"), langWasm(t, "c_hotfix_v2")},
	} {
		n := newNode(t, host.NewConfig())
		n.load("hotfix", c.v1)
		srv := n.spawn("hotfix", "server", "")
		n.expect(srv, []string{"incr", "incr", "get"}, "v1 count=2")
		n.load("hotfix", c.v2)
		n.expect(srv, []string{"update", "incr", "get"}, "v2 count=12 from=1")
		if !n.softPurge("hotfix") {
			t.Error("soft purge = false after the update")
		}
	}
}

// TestCBytes: the bytes convention with the C header's alloc.
func TestCBytes(t *testing.T) {
	n := newNode(t, host.NewConfig())
	n.load("upper", langWasm(t, "c_upper_v1"))
	for _, in := range []string{"", "hello, wasmhot", strings.Repeat("abc", 50_000)} {
		out, err := n.h.CallBytes(ctx, "upper", "upper", []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if want := "v1:" + strings.ToUpper(in); string(out) != want {
			t.Fatalf("upper(%.20q...) = %.20q..., want %.20q...", in, out, want)
		}
	}
	n.load("upper", langWasm(t, "c_upper_v2"))
	if out, err := n.h.CallBytes(ctx, "upper", "upper", []byte("x")); err != nil || string(out) != "v2:X" {
		t.Fatalf("after reload: %q, %v", out, err)
	}
	if _, err := n.h.CallBytes(ctx, "upper", "nothere", nil); !errors.Is(err, host.ErrUndef) {
		t.Fatalf("missing function: %v, want undef", err)
	}
}
