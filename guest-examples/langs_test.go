package guestexamples_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/hosttest"
	"github.com/wasmhot/wasmhot/internal/testmode"
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

type node = hosttest.Node

// newNode starts a host for these tests: WASI granted (Go guests need it),
// the shared compilation cache.
// newNode starts a node for Go and C guests. A Go guest's _initialize
// takes tens of milliseconds, but seconds under the race detector beside
// other test binaries: the start timeout is a minute.
func newNode(t *testing.T, cfg host.Config) *node {
	return hosttest.NewNode(t, cfg.WithWASI("*").WithCompilationCacheDir(cacheDir).WithStartTimeout(time.Minute))
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
		n.Load("test", wasm("test", 1))
		p := n.Spawn("test", "run", "-1") // -1: a tick is a message, no timer
		if got := n.Lines(p, 1); got[0] != "this is old code" {
			t.Fatalf("first line %q", got[0])
		}
		n.Expect(p, []string{"t", "t"}, "this is old code", "this is old code")
		n.Load("test", wasm("test", 2))
		if !n.Check(p, "test") {
			t.Error("waiting in v1: check_process_code = false, want true")
		}
		// The tick it waits for is taken by v1; its continue("run") enters v2.
		n.Expect(p, []string{"t", "t"}, "this is new code", "this is new code")
		if n.Check(p, "test") {
			t.Error("after the upgrade: check_process_code = true, want false")
		}
		n.Send(p, "stop")
		if e := n.Exit(p); e.Reason != host.Normal {
			t.Errorf("exit %v, want normal", e)
		}
	}},
	{"2_local_loop_stays_in_old_code", func(t *testing.T, n *node, wasm func(string, int) []byte) {
		n.Load("test", wasm("test", 1))
		p := n.Spawn("test", "run_local", "-1")
		n.Lines(p, 1)
		n.Expect(p, []string{"t"}, "this is old code")
		n.Load("test", wasm("test", 2))
		n.Expect(p, repeat("t", 100), repeat("this is old code", 100)...)
		if !n.Check(p, "test") {
			t.Error("check_process_code = false, want true")
		}
		if !n.Purge("test") {
			t.Error("purge killed no one")
		}
		if e := n.Exit(p); e.Reason != host.Killed {
			t.Errorf("exit %v, want killed", e)
		}
	}},
	{"3_external_helper_call_local_recursion", func(t *testing.T, n *node, wasm func(string, int) []byte) {
		n.Load("test2", wasm("test2", 1))
		p := n.Spawn("test2", "loop", "")
		n.Expect(p, []string{"t", "t"}, "[loop v1 body] f() -> v1", "[loop v1 body] f() -> v1")
		n.Load("test2", wasm("test2", 2))
		// The new f, the old loop body: the new line is never printed.
		n.Expect(p, []string{"t", "t", "t"}, repeat("[loop v1 body] f() -> v2", 3)...)
		if !n.Check(p, "test2") || n.SoftPurge("test2") {
			t.Fatal("want check_process_code true and soft_purge false")
		}
		if !n.Purge("test2") {
			t.Fatal("purge = false")
		}
		if e := n.Exit(p); e.Reason != host.Killed {
			t.Fatalf("exit %v, want killed", e)
		}
		// A process started now runs v2 whole.
		p = n.Spawn("test2", "loop", "")
		n.Expect(p, []string{"t"}, "NEW CODE LINE IN LOOP", "[loop v2 body] f() -> v2")
	}},
	{"4_controlled_upgrade_with_state_transform", func(t *testing.T, n *node, wasm func(string, int) []byte) {
		n.Load("hotfix", wasm("hotfix", 1))
		srv := n.Spawn("hotfix", "server", "")
		n.Expect(srv, []string{"incr", "get", "incr", "get"}, "v1 count=1", "v1 count=2")
		n.Load("hotfix", wasm("hotfix", 2))
		n.Expect(srv, []string{"incr", "get", "get"}, "v1 count=3", "v1 count=3")
		if !n.Check(srv, "hotfix") || n.SoftPurge("hotfix") {
			t.Error("before update: want check_process_code true, soft_purge false")
		}
		n.Expect(srv, []string{"update", "get"}, "v2 count=3 from=1")
		n.Expect(srv, []string{"incr", "get"}, "v2 count=13 from=1")
		if n.Check(srv, "hotfix") {
			t.Error("after update: check_process_code = true")
		}
		if !n.SoftPurge("hotfix") {
			t.Error("after update: soft_purge = false")
		}
		// A second update with no new code keeps the state.
		n.Expect(srv, []string{"update", "get"}, "v2 count=13 from=1")
		n.Send(srv, "stop")
		if e := n.Exit(srv); e.Reason != host.Normal {
			t.Errorf("exit %v, want normal", e)
		}
	}},
}

var langs = []string{"go", "c"}

// langModes are the execution modes row runs in for lang: both, except
// that the Go guests, each taking 10 s to compile under the race detector,
// run in the default mode only, and not row 3 (two more Go modules to
// compile), unless WASMHOT_LONG=1. The rows run in both modes with the C
// and the WAT guests.
func langModes(lang, row string) []host.Mode {
	if lang == "go" && testmode.Race && !testmode.Long() {
		if strings.HasPrefix(row, "3_") {
			return nil
		}
		return []host.Mode{host.Sandboxed}
	}
	return []host.Mode{host.Sandboxed, host.Trusted}
}

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
					modes := langModes(lang, row.name)
					if len(modes) == 0 {
						t.Skip("the Go guests of this row compile for 20 s under the race detector: WASMHOT_LONG=1 (.ci/run) runs it")
					}
					for _, mode := range modes {
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
			n.Load("test", langWasm(t, lang+"_test_v1"))
			p := n.Spawn("test", "run", "20")
			n.Lines(p, 3)
			n.Load("test", langWasm(t, lang+"_test_v2"))
			var got []string
			for {
				got = n.Lines(p, len(got)+1)
				if got[len(got)-1] == "this is new code" {
					break
				}
			}
			got = n.Lines(p, len(got)+3)
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
			n.Send(p, "stop")
			if e := n.Exit(p); e.Reason != host.Normal {
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
			n.Load("test", langWasm(t, lang+"_test_v1"))
			p := n.Spawn("test", "run_local", "-1")
			n.Lines(p, 1)
			n.Expect(p, []string{strings.Repeat("x", 100<<10)}, "this is old code")
			n.Send(p, "s"+strings.Repeat("x", 100<<10))
			if e := n.Exit(p); e.Reason != host.Normal {
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
		n.Load("hotfix", c.v1)
		srv := n.Spawn("hotfix", "server", "")
		n.Expect(srv, []string{"incr", "incr", "get"}, "v1 count=2")
		n.Load("hotfix", c.v2)
		n.Expect(srv, []string{"update", "incr", "get"}, "v2 count=12 from=1")
		if !n.SoftPurge("hotfix") {
			t.Error("soft purge = false after the update")
		}
	}
}

// TestCBytes: the bytes convention with the C header's alloc.
func TestCBytes(t *testing.T) {
	n := newNode(t, host.NewConfig())
	n.Load("upper", langWasm(t, "c_upper_v1"))
	for _, in := range []string{"", "hello, wasmhot", strings.Repeat("abc", 50_000)} {
		out, err := n.H.CallBytes(ctx, "upper", "upper", []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if want := "v1:" + strings.ToUpper(in); string(out) != want {
			t.Fatalf("upper(%.20q...) = %.20q..., want %.20q...", in, out, want)
		}
	}
	n.Load("upper", langWasm(t, "c_upper_v2"))
	if out, err := n.H.CallBytes(ctx, "upper", "upper", []byte("x")); err != nil || string(out) != "v2:X" {
		t.Fatalf("after reload: %q, %v", out, err)
	}
	if _, err := n.H.CallBytes(ctx, "upper", "nothere", nil); !errors.Is(err, host.ErrUndef) {
		t.Fatalf("missing function: %v, want undef", err)
	}
}
