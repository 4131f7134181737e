package main

import (
	"context"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
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
		{"float and hex", []string{"w", "call", "m", "f", "-1.5e3", "-0x10", "-inf"}, []string{"w", "call", "--", "m", "f", "-1.5e3", "-0x10", "-inf"}},
		{"unknown flag moves", []string{"w", "procs", "--bogus"}, []string{"w", "procs", "--bogus"}},
		{"unknown flag after args", []string{"w", "send", "p", "-hello"}, []string{"w", "send", "-hello", "p"}},
		{"unknown command", []string{"w", "nope", "a", "--x"}, []string{"w", "nope", "a", "--x"}},
		{"no command", []string{"w"}, []string{"w"}},
		{"subcommand's flag after it", []string{"w", "cluster", "status", "--json"}, []string{"w", "cluster", "status", "--json"}},
		{"subcommand's flags before it", []string{"w", "cluster", "--node", "status", "status", "--json"}, []string{"w", "cluster", "status", "--node", "status", "--json"}},
		{"unknown subcommand", []string{"w", "cluster", "nope", "--json"}, []string{"w", "cluster", "--json", "nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := reorderArgs(app, tc.in)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("reorderArgs(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// A flag that needs a value and comes last without one is a usage error,
// not a flag that swallows a positional argument.
func TestReorderArgsDanglingValue(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	_, err := reorderArgs(app, []string{"w", "spawn", "a", "run", "--state"})
	var u *usageErr
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "flag --state needs a value") {
		t.Errorf("err = %v, want a usage error about --state", err)
	}
}

func TestHelpListsCommands(t *testing.T) {
	code, out, errOut := runArgs(t, context.Background(), "--help")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	for _, c := range []string{"demo", "run", "serve", "load", "soft-purge", "purge", "delete", "modules", "spawn", "send", "procs", "check", "call", "logs", "watch", "inspect", "bench"} {
		if !regexp.MustCompile(`(?m)^\s+` + c + `\s`).MatchString(out) {
			t.Errorf("help does not list %s", c)
		}
	}
}
