package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	probe := writeWasm(t, dir, "probe", "probe")
	two := filepath.Join(dir, "two")
	if err := os.Mkdir(two, 0o755); err != nil {
		t.Fatal(err)
	}
	writeWasm(t, two, "probe", "probe")
	writeWasm(t, two, "counter", "counter_v1")
	dashed := writeWasm(t, dir, "My-Calc", "probe")
	digit := writeWasm(t, dir, "1x", "probe")
	clash := filepath.Join(dir, "clash")
	if err := os.Mkdir(clash, 0o755); err != nil {
		t.Fatal(err)
	}
	writeWasm(t, clash, "a-b", "probe")
	writeWasm(t, clash, "a_b", "probe")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
		quiet  bool
	}{
		{"normal exit", []string{"--entry", "probe:state_roundtrip", "--state", "abc", probe}, 0,
			[]string{"probe v1 ", ": abc\n", ": hello\n"}, "", true},
		{"flags after the file", []string{probe, "--entry", "probe:state_roundtrip"}, 0, []string{": hello\n"}, "", true},
		{"directory", []string{"--entry", "probe:state_roundtrip", two}, 0, []string{": hello\n"}, "", true},
		{"trap", []string{"--entry", "probe:trap", probe}, 1, nil, "entry probe:trap exited: trap", false},
		{"default entry main", []string{probe}, 1, nil, "probe:main: undef: no such function; the entry points of probe (exports of type () -> ()): abi, continue_bad_type,", false},
		{"entry of another type", []string{"--entry", "probe:hello", probe}, 1, nil, "probe:hello: badarity: it is of type (i32)->(i32), not () -> (); the entry points of probe", false},
		{"several modules need --entry", []string{two}, 1, nil, "--entry MOD:FN", false},
		{"bad entry", []string{"--entry", "probe", probe}, 2, nil, "want MOD:FN", false},
		{"file name made a module name", []string{"--entry", "my_calc:state_roundtrip", dashed}, 0, []string{"my_calc v1 "},
			"My-Calc.wasm loads as module my_calc\n", false},
		{"--name", []string{"--name", "calc", "--entry", "calc:state_roundtrip", dashed}, 0, []string{"calc v1 "}, "", true},
		{"default entry of a derived name", []string{dashed}, 1, nil, "my_calc:main: undef", false},
		{"no name can be made", []string{digit}, 1, nil, `no module name can be made of "1x" (a module name is [a-z][a-z0-9_]{0,63}); give one with --name`, false},
		{"--name of a directory", []string{"--name", "x", "--entry", "probe:state_roundtrip", two}, 1, nil, "--name names the module of one FILE.wasm", false},
		{"bad --name", []string{"--name", "Calc", probe}, 2, nil, `--name "Calc" is not a module name`, false},
		{"two files, one name", []string{"--entry", "a_b:state_roundtrip", clash}, 1, nil, "would both load as module a_b; rename one", false},
		{"missing file", []string{filepath.Join(dir, "nope.wasm")}, 1, nil, "no such file", false},
		{"no argument", nil, 2, nil, "want 1 argument", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			code, out, errOut := runArgs(t, ctx, append([]string{"run"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q; stdout %q", code, tc.code, errOut, out)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout %q lacks %q", out, s)
				}
			}
			if !strings.Contains(errOut, tc.stderr) || (tc.quiet && errOut != "") {
				t.Errorf("stderr %q, want %q", errOut, tc.stderr)
			}
		})
	}
}

// An interrupt ends a run whose processes go on forever with exit 130.
func TestRunInterrupted(t *testing.T) {
	dir := t.TempDir()
	test := writeWasm(t, dir, "test", "test_v1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"wasmhot", "run", "--entry", "test:run", "--state", "10", test}, stdout, stderr)
	}()
	waitOutput(t, stdout, `test v1 \S+: this is old code`)
	cancel()
	if code := <-done; code != 130 || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("exit %d, stderr %q; want 130, interrupted", code, stderr)
	}
}

// run --watch reloads a file that changes, and exits 0 on an interrupt.
func TestRunWatch(t *testing.T) {
	dir := t.TempDir()
	test := writeWasm(t, dir, "test", "test_v1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"wasmhot", "run", "--watch", "--entry", "test:run", "--state", "10", test}, stdout, stderr)
	}()
	waitOutput(t, stdout, `test v1 \S+: this is old code`)
	writeWasm(t, dir, "test", "test_v2")
	waitOutput(t, stderr, `reloaded test vsn 2`)
	waitOutput(t, stdout, `test v2 \S+: this is new code`)
	// A file that is not a module changes nothing.
	if err := os.WriteFile(test, []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, stderr, `reload: .*bad module`)
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d on interrupt with --watch; stderr:\n%s", code, stderr)
	}
}
