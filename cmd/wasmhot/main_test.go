package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

func runArgs(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(ctx, append([]string{"wasmhot"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code, out, errOut := runArgs(t, ctx, "demo")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s\nstdout:\n%s", code, errOut, out)
	}
	if errOut != "" {
		t.Errorf("stderr not empty:\n%s", errOut)
	}
	t.Logf("demo output:\n%s", out)

	// The story, in the order the demo must tell it. Each pattern is
	// looked for after the previous one's match; only events the demo
	// waits for before narrating on are in the list.
	story := []string{
		`(?m)^1\. load test v1`,
		`guest\| test v1 loop\(\w{8}\): this is old code`,
		`(?m)^2\. load test v2`,
		`guest\| test v2 loop\(\w{8}\): this is new code`,
		`check_process_code\(sleeper, test\) = true`,
		`old vsn 1 now has 1 lingering process`,
		`(?m)^3\. partial update`,
		`guest\| a v1 local\(\w{8}\): v1 got hello`,
		`load a_loop_v2 as "a": vsn 2 is current`,
		`send "pong"`,
		`guest\| a v2 ext\(\w{8}\): v2 got pong`,
		`local runs vsn 1, ext runs vsn 2`,
		`(?m)^4\. controlled upgrade`,
		`load hotfix_v2 as "hotfix"`,
		`guest\| hotfix v1 server\(\w{8}\): v1 count=3\n`,
		`guest\| hotfix v2 server\(\w{8}\): v2 count=3 from=1\n`,
		`guest\| hotfix v2 server\(\w{8}\): v2 count=13 from=1\n`,
		`(?m)^5\. soft purge`,
		`soft_purge\(a\) = false`,
		`check_process_code\(local, a\) = true, check_process_code\(ext, a\) = false`,
		`(?m)^6\. purge`,
		`purge\(a\) = true: killed 1 process`,
		`local exited: killed`,
		`guest\| a v2 ext\(\w{8}\): v2 got are you there\?`,
		`(?m)^7\. reload`,
		`purge killed 1 process\(es\); vsn 3 is current`,
		`sleeper exited: killed`,
		`guest\| test v3 loop\(\w{8}\): this is old code`,
		`(?m)^8\. a Go call`,
		`counter:version\(\) = 1; counter:echo\("hello"\) = "v1:hello"`,
		`counter:version\(\) = 2; counter:echo\("hello"\) = "v2:hello"`,
		`reload counter with counter_v3 is refused: .*sticky`,
		`(?m)^9\. summary`,
		`(?m)^\s+counter\s+vsn 2\s+vsn 1\s+0\s+true$`,
		`(?m)^\s+test\s+vsn 3\s+vsn 2\s`,
		`(?m)^\s+\w{8}\s+loop\s+test\s+3\s`,
		`(?m)^\s+\w{8}\s+sleeper\s+test\s+-\s+exited\s+killed$`,
		`(?m)^\s+\w{8}\s+local\s+a\s+-\s+exited\s+killed$`,
		`(?m)^\s+\w{8}\s+ext\s+a\s+2\s`,
		`host closed`,
	}
	rest := out
	for _, p := range story {
		loc := regexp.MustCompile(p).FindStringIndex(rest)
		if loc == nil {
			t.Fatalf("output lacks %q after the previous step of the story", p)
		}
		rest = rest[loc[1]:]
	}
	for _, s := range []string{
		"guest| test v1 sleeper(",
		"guest| a v1 local(", "v1 got pong",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}

	// The loop is muted from step 2 to step 7.
	from := strings.Index(out, "hidden until step 7")
	to := strings.Index(out, "\n7. ")
	if from < 0 || to < from {
		t.Fatalf("no muted section")
	}
	if strings.Contains(out[from:to], "guest| test ") {
		t.Errorf("loop lines while muted:\n%s", out[from:to])
	}
}

func TestHelp(t *testing.T) {
	code, out, errOut := runArgs(t, context.Background(), "--help")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	if !regexp.MustCompile(`(?m)^\s+demo\s+narrate`).MatchString(out) {
		t.Errorf("help does not list demo:\n%s", out)
	}
	code, out, _ = runArgs(t, context.Background(), "demo", "--help")
	if code != 0 || !strings.Contains(out, "--timeout") {
		t.Errorf("demo --help: exit %d:\n%s", code, out)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `wasmhot: unknown command "bogus"`},
		{[]string{"demo", "extra"}, `wasmhot: demo: takes no arguments, got ["extra"]`},
		{[]string{"demo", "--timeout", "0s"}, "wasmhot: demo: --timeout must be positive"},
		{[]string{"--no-such-flag"}, "wasmhot: unknown flag --no-such-flag"},
		{[]string{"help", "bogus"}, "wasmhot: help: unknown command 'bogus'"},
	} {
		code, _, errOut := runArgs(t, context.Background(), tc.args...)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2", tc.args, code)
		}
		if !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: stderr %q lacks %q", tc.args, errOut, tc.want)
		}
	}
}

// A cancelled context (Ctrl-C) ends the demo with exit 1 instead of
// hanging.
func TestDemoCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan int, 1)
	var errOut string
	go func() {
		code, _, e := runArgs(t, ctx, "demo")
		errOut = e
		done <- code
	}()
	select {
	case code := <-done:
		if code != 1 || !strings.HasPrefix(errOut, "wasmhot: demo") {
			t.Errorf("exit %d, want 1; stderr %q", code, errOut)
		}
		t.Logf("stderr: %s", errOut)
	case <-time.After(30 * time.Second):
		t.Fatal("demo hung on a cancelled context")
	}
}
