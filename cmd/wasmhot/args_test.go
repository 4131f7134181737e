package main

import (
	"context"
	"io"
	"regexp"
	"slices"
	"testing"
)

func TestReorderArgs(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"flags first stay", []string{"w", "spawn", "--state", "x", "a", "run"}, []string{"w", "spawn", "--state", "x", "a", "run"}},
		{"flag after args", []string{"w", "spawn", "a", "run", "--state", "x"}, []string{"w", "spawn", "--state", "x", "a", "run"}},
		{"inline value", []string{"w", "spawn", "a", "run", "--state=x"}, []string{"w", "spawn", "--state=x", "a", "run"}},
		{"bool flag", []string{"w", "procs", "--json", "--all"}, []string{"w", "procs", "--json", "--all"}},
		{"negative numbers", []string{"w", "call", "m", "f", "-1", "2"}, []string{"w", "call", "--", "m", "f", "-1", "2"}},
		{"node after numbers", []string{"w", "call", "m", "f", "-1", "--node", "s"}, []string{"w", "call", "--node", "s", "--", "m", "f", "-1"}},
		{"user dashes", []string{"w", "send", "p", "--", "--state"}, []string{"w", "send", "--", "p", "--state"}},
		{"unknown command", []string{"w", "nope", "a", "--x"}, []string{"w", "nope", "a", "--x"}},
		{"no command", []string{"w"}, []string{"w"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := reorderArgs(app, tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("reorderArgs(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestHelpListsCommands(t *testing.T) {
	code, out, errOut := runArgs(t, context.Background(), "--help")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	for _, c := range []string{"demo", "run", "serve", "load", "soft-purge", "purge", "delete", "modules", "spawn", "send", "procs", "check", "call", "logs", "watch"} {
		if !regexp.MustCompile(`(?m)^\s+` + c + `\s`).MatchString(out) {
			t.Errorf("help does not list %s", c)
		}
	}
}
