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
	badName := writeWasm(t, dir, "Bad", "probe")
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
		{"default entry main", []string{probe}, 1, nil, "probe:main: undef", false},
		{"several modules need --entry", []string{two}, 1, nil, "--entry MOD:FN", false},
		{"bad entry", []string{"--entry", "probe", probe}, 2, nil, "want MOD:FN", false},
		{"bad module name", []string{badName}, 1, nil, `"Bad" is not a module name`, false},
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
