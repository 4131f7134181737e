package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wasmhot/wasmhot/control"
	"github.com/wasmhot/wasmhot/internal/testmode"
)

// inspectJSON runs `wasmhot inspect --json args...` and decodes the report.
func inspectJSON(t *testing.T, args ...string) (int, inspectReport, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	code, out, errOut := runArgs(t, ctx, append([]string{"inspect", "--json"}, args...)...)
	var rep inspectReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("inspect %q: exit %d, bad JSON %v:\n%s\nstderr: %s", args, code, err, out, errOut)
	}
	return code, rep, errOut
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	gs := writeWasm(t, dir, "gs", "gs")

	code, out, errOut := runArgs(t, context.Background(), "inspect", gs)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	t.Logf("inspect gs.wasm:\n%s", out)
	for _, re := range []string{
		`(?m)^` + regexp.QuoteMeta(gs) + `: module gs, \d+ bytes, sha256 [0-9a-f]{64}$`,
		`(?m)^  loop\s+\(\)->\(\)\s+entry point$`,
		`(?m)^  memory\s+\(memory\)$`,
		`(?m)^  wasmhot\.receive\s+\(i32,i32,i32\)->\(i32\)\s+guest ABI$`,
		`(?m)^  cb\.handle\s+\(i32\)->\(i32\)\s+external call$`,
		`(?m)^guest ABI:\s+receive, log$`,
		`(?m)^external calls:\s+cb \(handle, slow\)`,
		`(?m)^WASI:\s+no$`,
		`(?m)^memory export:\s+yes$`,
		`(?m)^code_change:\s+no$`,
		`(?m)^bytes functions:\s+none$`,
		`(?m)^entry points:\s+loop \(wasmhot spawn gs loop\)$`,
		`(?m)^verdict: loadable \(prepared in a throwaway node with the default config, then discarded\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output lacks %s", re)
		}
	}
	if regexp.MustCompile(`(?m) $`).MatchString(out) {
		t.Errorf("trailing blanks in the output")
	}

	code, rep, _ := inspectJSON(t, gs)
	want := inspectReport{
		File: gs, Module: "gs", Size: rep.Size, SHA256: rep.SHA256, Valid: true,
		Exports:  []control.Export{{Name: "loop", Signature: "()->()"}},
		Memories: []string{"memory"},
		Imports: []inspectImport{
			{"wasmhot", "receive", "(i32,i32,i32)->(i32)", "abi"},
			{"wasmhot", "log", "(i32,i32)->()", "abi"},
			{"cb", "handle", "(i32)->(i32)", "external"},
			{"cb", "slow", "(i32)->(i32)", "external"},
		},
		ABI: []string{"receive", "log"}, External: []string{"cb"}, ExternalCalls: []string{"cb:handle", "cb:slow"},
		Memory: true, BytesFunctions: []string{}, EntryPoints: []string{"loop"},
		Loadable: true, Warnings: []string{},
	}
	if code != 0 || !equalJSON(t, rep, want) {
		t.Errorf("exit %d, report %+v\nwant %+v", code, rep, want)
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

// What inspect tells about the conventions and the verdicts it reaches.
func TestInspectCases(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.wasm")
	if err := os.WriteFile(junk, []byte("\x00asm junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	renamed := filepath.Join(dir, "My-gs.wasm")
	if err := os.Rename(writeWasm(t, dir, "x", "gs"), renamed); err != nil {
		t.Fatal(err)
	}
	goGuest, err := filepath.Abs("../../guest-examples/wasm-langs/go_test_v1.wasm")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		check func(r inspectReport) bool
		// stderr: the error line, for the modules that cannot load.
		stderr string
	}{
		{"bytes convention", []string{writeWasm(t, dir, "counter", "counter_v1")}, 0, func(r inspectReport) bool {
			return r.Alloc && r.Memory && slices.Equal(r.BytesFunctions, []string{"echo", "wild"}) &&
				slices.Equal(r.ABI, []string{"sleep"}) && len(r.EntryPoints) == 0 && !r.CodeChange
		}, ""},
		{"code_change", []string{writeWasm(t, dir, "hotfix", "hotfix_v2")}, 0, func(r inspectReport) bool {
			return r.CodeChange && slices.Equal(r.EntryPoints, []string{"server"}) && slices.Contains(r.ABI, "continue")
		}, ""},
		{"self import", []string{writeWasm(t, dir, "a", "a_loop_v1")}, 0, func(r inspectReport) bool {
			return r.Loadable && slices.Equal(r.EntryPoints, []string{"run", "run_local"})
		}, ""},
		{"WASI", []string{"--name", "test", writeWasm(t, dir, "wasi_reactor", "wasi_reactor")}, 0, func(r inspectReport) bool {
			return r.WASI && r.CheckedWithWASI && r.Module == "test" && r.Alloc &&
				!slices.Contains(r.EntryPoints, "_initialize") && slices.Equal(r.EntryPoints, []string{"run"})
		}, ""},
		// The Go runtime's _initialize takes 40 ms here, but seconds under
		// the race detector beside other test binaries on two cores.
		{"Go guest", []string{"--name", "test", "--start-timeout", "2m", goGuest}, 0, func(r inspectReport) bool {
			return r.WASI && r.CheckedWithWASI && r.Module == "test" && r.Alloc &&
				!slices.Contains(r.EntryPoints, "_initialize") && slices.Contains(r.EntryPoints, "run")
		}, ""},
		{"start function traps", []string{writeWasm(t, dir, "start_trap", "start_trap")}, 1, func(r inspectReport) bool {
			return r.Valid && !r.Loadable && strings.Contains(r.Reason, "unreachable")
		}, ": not loadable: instantiate: trap: "},
		{"bad ABI type", []string{writeWasm(t, dir, "bad_abi", "bad_abi")}, 1, func(r inspectReport) bool {
			return slices.Equal(r.ABI, []string{"self"}) && strings.Contains(r.Reason, "wasmhot.self has type ()->(i64)")
		}, ": not loadable: import wasmhot.self"},
		{"unsupported import", []string{writeWasm(t, dir, "bad_import", "bad_import")}, 1, func(r inspectReport) bool {
			return len(r.Imports) == 2 && r.Imports[0].Kind == "unsupported" && r.Imports[0].Module == "Env" &&
				r.Imports[1] == inspectImport{"env", "mem", "memory", "unsupported"} && !r.Loadable
		}, ": not loadable: "},
		{"over the memory limit", []string{writeWasm(t, dir, "huge_memory", "huge_memory")}, 1, func(r inspectReport) bool {
			return r.Memory && strings.Contains(r.Reason, "over limit")
		}, ": not loadable: "},
		{"not Wasm", []string{junk}, 1, func(r inspectReport) bool {
			return !r.Valid && !r.Loadable && strings.HasPrefix(r.Reason, "not a valid Wasm module") &&
				r.Exports != nil && len(r.Exports) == 0
		}, ": not loadable: not a valid Wasm module"},
		{"not a module name", []string{renamed}, 1, func(r inspectReport) bool {
			return r.Valid && !r.Loadable && strings.HasSuffix(r.Reason, "use --name")
		}, `: not loadable: "My-gs" is not a module name`},
		{"--name", []string{"--name", "gs", renamed}, 0, func(r inspectReport) bool { return r.Module == "gs" && r.Loadable }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "Go guest" && testmode.Race && !testmode.Long() {
				t.Skip("compiling a 2 MB Go guest takes 10 s under the race detector: WASMHOT_LONG=1 (.ci/run) checks it")
			}
			code, rep, errOut := inspectJSON(t, tc.args...)
			if code != tc.code || !tc.check(rep) {
				t.Errorf("exit %d (want %d), report %+v", code, tc.code, rep)
			}
			file := tc.args[len(tc.args)-1]
			if tc.stderr == "" && errOut != "" {
				t.Errorf("stderr %q", errOut)
			}
			if tc.stderr != "" && (!strings.HasPrefix(errOut, "wasmhot: inspect "+file+tc.stderr) || strings.Count(errOut, "\n") != 1) {
				t.Errorf("stderr %q, want one line starting %q", errOut, "wasmhot: inspect "+file+tc.stderr)
			}
		})
	}
}
