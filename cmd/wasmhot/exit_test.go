package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
)

// Every command: a usage error exits 2, a failure exits 1, and either
// prints one line on stderr, "wasmhot: COMMAND...: cause".
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	counter := writeWasm(t, dir, "counter", "counter_v1")
	n.cli(t, "load", "--sticky", counter)
	probe := writeWasm(t, dir, "probe", "probe")
	trap := writeWasm(t, dir, "start_trap", "start_trap")
	junk := filepath.Join(dir, "junk.wasm")
	if err := os.WriteFile(junk, []byte("\x00asm junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	none := filepath.Join(dir, "none.sock") // no node there
	noPID := "00000000-0000-0000-0000-000000000001"

	type tc struct {
		name   string
		args   []string // the node's --node is added after a client command's name
		client bool
		// cancelled runs the command with a cancelled context (Ctrl-C).
		cancelled bool
		want      string // stderr starts with it
	}
	usage := []tc{
		{"demo", []string{"demo", "extra"}, false, false, "wasmhot: demo: takes no arguments"},
		{"run", []string{"run"}, false, false, "wasmhot: run: want 1 argument(s), got 0"},
		{"serve", []string{"serve", "--exec", "fast"}, false, false, `wasmhot: serve: --exec "fast"`},
		{"load", []string{"load"}, true, false, "wasmhot: load: no files"},
		{"soft-purge", []string{"soft-purge", "a", "b"}, true, false, "wasmhot: soft-purge: want 1 argument(s), got 2"},
		{"purge", []string{"purge", "--bogus", "a"}, true, false, "wasmhot: purge: unknown flag --bogus"},
		{"delete", []string{"delete"}, true, false, "wasmhot: delete: want 1 argument(s), got 0"},
		{"rollback", []string{"rollback", "a", "b"}, true, false, "wasmhot: rollback: want 1 module without --cluster, got 2"},
		{"cluster", []string{"cluster", "status", "extra"}, true, false, `wasmhot: cluster status: takes no arguments, got ["extra"]`},
		{"modules", []string{"modules", "extra"}, true, false, `wasmhot: modules: takes no arguments, got ["extra"]`},
		{"spawn", []string{"spawn", "counter", "run", "--state"}, true, false, "wasmhot: spawn: flag --state needs a value"},
		{"send", []string{"send", noPID}, true, false, "wasmhot: send: want 2 argument(s), got 1"},
		{"kill", []string{"kill"}, true, false, "wasmhot: kill: want 1 argument(s), got 0"},
		{"suspend", []string{"suspend"}, true, false, "wasmhot: suspend: want 1 argument(s), got 0"},
		{"resume", []string{"resume", "a", "b"}, true, false, "wasmhot: resume: want 1 argument(s), got 2"},
		{"change-code", []string{"change-code", "--timeout", "0s", noPID}, true, false, "wasmhot: change-code: --timeout 0s: want more than 0"},
		{"version", []string{"version", "x"}, false, false, `wasmhot: version: takes no arguments, got ["x"]`},
		{"procs", []string{"procs", "--all=maybe"}, true, false, `wasmhot: procs: invalid boolean value "maybe" for --all`},
		{"check", []string{"check", noPID}, true, false, "wasmhot: check: want 2 argument(s), got 1"},
		{"call", []string{"call", "counter"}, true, false, "wasmhot: call: want MODULE and FUNCTION"},
		{"logs", []string{"logs", "-x"}, true, false, "wasmhot: logs: unknown flag -x"},
		{"watch", []string{"watch", "--interval", "soon", dir}, true, false, `wasmhot: watch: invalid value "soon" for flag --interval`},
		{"inspect", []string{"inspect", "--name", "Bad", probe}, false, false, `wasmhot: inspect: --name "Bad" is not a module name`},
		{"inspect start timeout", []string{"inspect", "--start-timeout", "0s", probe}, false, false, "wasmhot: inspect: bad config: start timeout 0s: want > 0"},
		{"serve start timeout", []string{"serve", "--start-timeout", "-1s"}, false, false, "wasmhot: serve: bad config: start timeout -1s: want > 0"},
		{"serve log rate", []string{"serve", "--log-rate", "1000"}, false, false, "wasmhot: serve: bad config: log rate 1000 bytes a second: want 0 (no bound) or >= 65536"},
		{"serve log rate not a size", []string{"serve", "--log-rate", "fast"}, false, false, "wasmhot: serve: --log-rate \"fast\": want a rate of at most 2GiB (a second), e.g. 4MiB"},
		{"bench", []string{"bench", "--bogus"}, false, false, "wasmhot: bench: unknown flag --bogus"},
		{"vsn", []string{"vsn"}, false, false, "wasmhot: vsn: want FILE [TAG], got 0 argument(s)"},
		{"unknown command", []string{"bogus"}, false, false, `wasmhot: unknown command "bogus"`},
		{"unknown global flag", []string{"--bogus"}, false, false, "wasmhot: unknown flag --bogus"},
	}
	failure := []tc{
		{"demo", []string{"demo"}, false, true, "wasmhot: demo step 1 "},
		{"run", []string{"run", "--entry", "probe:trap", probe}, false, false, "wasmhot: run " + probe + ": entry probe:trap exited: trap"},
		{"serve", []string{"serve", "--socket", filepath.Join(dir, "no", "such", "dir", "n.sock")}, false, false, "wasmhot: serve: "},
		{"load", []string{"load", junk}, true, false, "wasmhot: load junk: badfile: "},
		{"soft-purge", []string{"soft-purge", "Bad"}, true, false, `wasmhot: soft-purge Bad: bad name: "Bad"`},
		{"purge", []string{"purge", "Bad"}, true, false, `wasmhot: purge Bad: bad name: "Bad"`},
		{"delete", []string{"delete", "counter"}, true, false, "wasmhot: delete counter: sticky directory: "},
		{"rollback", []string{"rollback", "probe"}, true, false, "wasmhot: rollback probe: no old: the module has no old version"},
		{"cluster", []string{"cluster", "status"}, true, false, "wasmhot: cluster status: no cluster: this node is not in a fleet"},
		{"modules", []string{"modules", "--node", none}, false, false, "wasmhot: modules: node " + none + ": "},
		{"spawn", []string{"spawn", "counter", "nope"}, true, false, "wasmhot: spawn counter:nope: undef: "},
		{"send", []string{"send", noPID, "hi"}, true, false, "wasmhot: send " + noPID + ": noproc: "},
		{"kill", []string{"kill", noPID[:8]}, true, false, "wasmhot: kill " + noPID[:8] + ": noproc: no process has a pid starting with 00000000"},
		{"suspend", []string{"suspend", noPID}, true, false, "wasmhot: suspend " + noPID + ": noproc: "},
		{"resume", []string{"resume", noPID}, true, false, "wasmhot: resume " + noPID + ": noproc: "},
		{"change-code", []string{"change-code", noPID}, true, false, "wasmhot: change-code " + noPID + ": noproc: "},
		{"procs", []string{"procs", "--node", none}, false, false, "wasmhot: procs: node " + none + ": "},
		{"check", []string{"check", noPID, "counter"}, true, false, "wasmhot: check " + noPID + " counter: noproc: "},
		{"call", []string{"call", "counter", "add", "1"}, true, false, "wasmhot: call counter:add: badarity: "},
		{"logs", []string{"logs", "--node", none}, false, false, "wasmhot: logs: node " + none + ": "},
		{"watch", []string{"watch", "--node", none, dir}, false, false, "wasmhot: watch: node " + none + ": "},
		{"inspect", []string{"inspect", trap}, false, false, "wasmhot: inspect " + trap + ": not loadable: "},
		{"bench", []string{"bench", "--quick", "--only", "storm"}, false, true, "wasmhot: bench: "},
		{"vsn", []string{"vsn", junk, "1.0"}, false, false, "wasmhot: vsn " + junk + ": not a Wasm module"},
	}
	try := func(t *testing.T, c tc, code int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if c.cancelled {
			cancel()
		}
		args := c.args
		if c.client {
			args = append([]string{args[0], "--node", n.sock}, args[1:]...)
		}
		got, _, errOut := runArgs(t, ctx, args...)
		// bench reports its progress on stderr: look at its last line.
		lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		last := lines[len(lines)-1]
		if got != code || !strings.HasPrefix(last, c.want) || (c.args[0] != "bench" && len(lines) != 1) {
			t.Errorf("wasmhot %s: exit %d, stderr %q; want exit %d and one line starting %q", strings.Join(c.args, " "), got, errOut, code, c.want)
		}
	}
	app := newApp(io.Discard, io.Discard)
	for _, cases := range []struct {
		kind  string
		code  int
		cases []tc
	}{{"usage", exitUsage, usage}, {"failure", exitFailure, failure}} {
		covered := map[string]bool{}
		for _, c := range cases.cases {
			covered[c.args[0]] = true
			t.Run(cases.kind+"/"+c.name, func(t *testing.T) { try(t, c, cases.code) })
		}
		for _, cmd := range app.Commands {
			if cmd.Name == "version" && cases.code == exitFailure {
				continue // it only prints what the binary says of itself
			}
			if !covered[cmd.Name] {
				t.Errorf("no %s case for command %s", cases.kind, cmd.Name)
			}
		}
	}
}

// Every command's help shows an example, and so does the app's.
func TestHelpExamples(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	names := []string{""}
	for _, c := range app.Commands {
		names = append(names, c.Name)
	}
	for _, name := range names {
		args := []string{"--help"}
		if name != "" {
			args = []string{name, "--help"}
		}
		code, out, errOut := runArgs(t, context.Background(), args...)
		if code != 0 || errOut != "" {
			t.Errorf("wasmhot %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
		}
		i := strings.Index(out, "Example:\n")
		if i < 0 {
			t.Errorf("wasmhot %s has no example:\n%s", strings.Join(args, " "), out)
			continue
		}
		ex := strings.TrimSpace(strings.SplitN(out[i+len("Example:\n"):], "\n", 2)[0])
		if !strings.Contains(ex, "wasmhot") {
			t.Errorf("wasmhot %s: example %q does not run wasmhot", strings.Join(args, " "), ex)
		}
	}
	if !slices.ContainsFunc(app.Commands, func(c *cli.Command) bool { return c.Name == "inspect" }) {
		t.Error("no inspect command")
	}
}

// Errors of the node read as causes: the code in words, the detail without
// Go package names and repetitions.
func TestNodeCause(t *testing.T) {
	for _, tc := range []struct {
		what, code, msg, want string
	}{
		{"load a", control.CodeNotPurged, "modules: batch refused, nothing loaded: module[a]: modules: not purged",
			"not purged: old code still loaded; use --purge to kill the processes lingering in it"},
		{"delete counter", control.CodeSticky, "module[counter]: modules: sticky",
			"sticky directory: the module is sticky: it refuses reload and delete"},
		{"call counter:nope", control.CodeUndef, "module[counter] function[nope]: exports: undef",
			"undef: no such module or function in the current code"},
		{"call counter:add", control.CodeBadArity, "module[counter] function[add]: exports: bad arity: 1 arguments for (i32,i32)->(i32)",
			"badarity: 1 arguments for (i32,i32)->(i32)"},
		{"call counter:add", control.CodeBadRequest, `call counter:add argument 2: not an i32: "x"`,
			`bad request: argument 2: not an i32: "x"`},
		{"load junk, a", control.CodeBadFile, "modules: batch refused, nothing loaded: module[junk]: modules: bad module: invalid version header",
			"badfile: junk: invalid version header"},
		{"load t", control.CodeBadFile, "modules: batch refused, nothing loaded: module[t]: modules: bad module: module[t] vsn[0]: instantiate: host: trap: start function[0] failed",
			"badfile: instantiate: trap: start function[0] failed"},
		{"send p", control.CodeNoProc, "send to p: host: no such process", "noproc: no such live process"},
		{"modules", control.CodeUnauthorized, "missing or wrong bearer token", "unauthorized: missing or wrong bearer token"},
	} {
		got := nodeCause(tc.what, &control.Error{Code: tc.code, Message: tc.msg})
		if got != tc.want {
			t.Errorf("nodeCause(%q, %s %q) =\n %q, want\n %q", tc.what, tc.code, tc.msg, got, tc.want)
		}
	}
	// A failed call is told from the fields the node sends, not its
	// message: the call that failed first when it is another.
	for _, tc := range []struct {
		e    control.Error
		want string
	}{
		{control.Error{Code: control.CodeUndef, Message: "not parsed",
			Call:  &control.CallInfo{Module: "x", Function: "probe", Vsn: 1, Reason: "undef"},
			Cause: &control.CallInfo{Module: "y", Function: "version", Reason: "undef"}},
			"undef: in y:version: no such module or function in the current code"},
		{control.Error{Code: control.CodeTrap, Message: "not parsed",
			Call:  &control.CallInfo{Module: "x", Function: "run", Vsn: 2, Reason: "trap"},
			Cause: &control.CallInfo{Module: "x", Function: "run", Vsn: 2, Reason: "trap", Detail: "wasm error: unreachable"}},
			"trap: wasm error: unreachable"},
	} {
		if got := nodeCause("call", &tc.e); got != tc.want {
			t.Errorf("nodeCause(%+v) = %q, want %q", tc.e, got, tc.want)
		}
	}
	if got := oneLine("a: trap\nwasm stack trace:\n\t.f()\n\t.g()\n"); got != "a: trap (wasm stack: .f() < .g())" {
		t.Errorf("oneLine = %q", got)
	}
}
