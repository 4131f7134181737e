package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
)

// Errors and exit codes.
//
// A command that fails prints one line on stderr, "wasmhot: WHAT: CAUSE":
// WHAT is the command and what it worked on ("load test", "spawn a:run",
// "inspect gs.wasm"), CAUSE says why. The cause of an error the node
// returned starts with the error's code in words ("not purged", "undef",
// "badfile", "sticky directory": the control API's codes with spaces for
// underscores), then the detail. Exit codes: 0 success, 1 failure,
// 2 usage error (wrong number of arguments, unknown flag or command, bad
// flag value).

const (
	exitFailure = 1
	exitUsage   = 2
)

// usageErr is a usage error: the command line is wrong, nothing was done.
type usageErr struct{ msg string }

func (e *usageErr) Error() string { return e.msg }

// ExitCode makes usageErr a cli.ExitCoder.
func (e *usageErr) ExitCode() int { return exitUsage }

// usageError is the usage error of the command c: "NAME: MSG (usage: ...)".
func usageError(c *cli.Context, msg string) error {
	name := commandPath(c)
	usage := "wasmhot " + name
	if len(c.Command.VisibleFlags()) > 0 {
		usage += " [options]"
	}
	if c.Command.ArgsUsage != "" {
		usage += " " + c.Command.ArgsUsage
	}
	return &usageErr{fmt.Sprintf("%s: %s (usage: %s)", name, msg, usage)}
}

// commandPath is the command's name as typed: "load", or "cluster status"
// for the subcommand of a command group.
func commandPath(c *cli.Context) string {
	for _, p := range c.Lineage()[1:] {
		if p.Command != nil && p.Command.Name != c.App.Name && p.Command.Command(c.Command.Name) == c.Command {
			return p.Command.Name + " " + c.Command.Name
		}
	}
	return c.Command.Name
}

// exactArgs returns the positional arguments when there are n of them.
func exactArgs(c *cli.Context, n int) ([]string, error) {
	if c.NArg() == n {
		return c.Args().Slice(), nil
	}
	switch {
	case n == 0:
		return nil, usageError(c, fmt.Sprintf("takes no arguments, got %q", c.Args().Slice()))
	case c.NArg() < n:
		return nil, usageError(c, fmt.Sprintf("want %d argument(s), got %d", n, c.NArg()))
	}
	return nil, usageError(c, fmt.Sprintf("want %d argument(s), got %d: %q", n, c.NArg(), c.Args().Slice()))
}

// flagUsageError turns the error of urfave/cli's flag parsing (an unknown
// flag, a bad value, a missing value) into a usage error. It is the
// OnUsageError of the app and of every command.
func flagUsageError(c *cli.Context, err error, isSubcommand bool) error {
	msg := err.Error()
	if m := undefinedFlagRE.FindStringSubmatch(msg); m != nil {
		msg = "unknown flag " + dashes(m[1])
	} else {
		msg = flagNameRE.ReplaceAllStringFunc(msg, func(s string) string {
			word, name, _ := strings.Cut(s, " -")
			return word + " " + dashes(name)
		})
	}
	if !isSubcommand {
		return &usageErr{msg + " (see wasmhot --help)"}
	}
	name := commandPath(c)
	return &usageErr{fmt.Sprintf("%s: %s (see wasmhot %s --help)", name, msg, name)}
}

var (
	undefinedFlagRE = regexp.MustCompile(`flag provided but not defined: -+(\S+)`)
	flagNameRE      = regexp.MustCompile(`\b(?:flag|for) -[\w-]+`)
)

// dashes writes a flag name as it is typed: --name, or -n for one letter.
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// failure is a command that failed: what it was doing and why.
type failure struct {
	what string
	err  error
}

func (e *failure) Error() string {
	return e.what + ": " + cause(e.what, e.err)
}

func (e *failure) Unwrap() error { return e.err }

// fail wraps err (nil: none) with what the command was doing.
func fail(what string, err error) error {
	if err == nil {
		return nil
	}
	return &failure{what: what, err: err}
}

// explained is an error whose message was written for people, in place of
// the one of the error it wraps.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// withCommand puts the command's name in front of an error that does not
// say already which command failed.
func withCommand(name string, err error) error {
	var (
		u *usageErr
		f *failure
	)
	switch msg := err.Error(); {
	case errors.As(err, &u), errors.As(err, &f):
		return err
	case msg == name, strings.HasPrefix(msg, name+":"), strings.HasPrefix(msg, name+" "):
		return err
	}
	return fail(name, err)
}

// cause says why err happened, for people, as the failure of what.
func cause(what string, err error) string {
	var ex *explained
	if errors.As(err, &ex) {
		return trimSubject(what, ex.msg)
	}
	var ce *control.Error
	if errors.As(err, &ce) {
		return nodeCause(what, ce)
	}
	msg := trimSubject(what, cleanDetail(err.Error()))
	var errno syscall.Errno
	if errors.As(err, &errno) && (errno == syscall.ENOENT || errno == syscall.ECONNREFUSED) && strings.HasPrefix(msg, "node ") {
		msg += " (is a node running there? start one with wasmhot serve, or see --node)"
	}
	if errors.Is(err, context.DeadlineExceeded) && !strings.Contains(msg, "deadline") {
		msg += ": " + context.DeadlineExceeded.Error()
	}
	return msg
}

// codeHints replace details that only repeat an error's code.
var codeHints = map[string]string{
	control.CodeNotPurged:   "old code still loaded; use --purge to kill the processes lingering in it",
	control.CodeSticky:      "the module is sticky: it refuses reload and delete",
	control.CodeUndef:       "no such module or function in the current code",
	control.CodeNoProc:      "no such live process",
	control.CodeNotLoaded:   "the module has no code loaded",
	control.CodeMailboxFull: "the process's mailbox is at its limit",
	control.CodePurged:      "the code was purged during the call",
	control.CodeClosed:      "the node is shutting down",
	control.CodeNoOld:       "the module has no old version (it was purged, or never replaced)",
}

// redundant are details (after cleaning) that only repeat the code.
var redundant = map[string]bool{
	"not purged": true, "sticky": true, "undef": true, "no such process": true, "not loaded": true,
	"mailbox full": true, "closed": true, "purged": true, "": true, "no old version": true,
}

var (
	batchPrefixRE = regexp.MustCompile(`^modules: batch refused, nothing loaded: `)
	moduleTagRE   = regexp.MustCompile(`module\[([^\]]*)\](?: vsn\[\d+\])?(?: function\[([^\]]*)\])?`)
	pkgPrefixRE   = regexp.MustCompile(`(^|: )(?:modules|exports|host|purger|cluster): `)
	codeEchoRE    = regexp.MustCompile(`(^|: )(?:bad module name|bad module|bad arity|bad bytes result): `)
)

// nodeCause formats an error reply of the node to a request about what:
// the error's code in words, then the detail without the Go package
// names and the repetitions.
func nodeCause(what string, e *control.Error) string {
	words := strings.ReplaceAll(e.Code, "_", " ")
	if e.Call != nil && e.Cause != nil {
		return callCause(words, e)
	}
	detail := trimSubject(what, cleanDetail(e.Message))
	last := detail
	if i := strings.LastIndex(detail, ": "); i >= 0 {
		last = detail[i+2:]
	}
	if redundant[detail] || redundant[last] {
		if hint, ok := codeHints[e.Code]; ok {
			detail = hint
		}
	}
	if detail == "" {
		return words
	}
	return words + ": " + detail
}

// callCause formats the failure of a call from the fields the node sends
// (no message parsing): the code in words, the call that failed first when
// it is another (an external call inside the one requested), and what went
// wrong, or a hint when the code says it all.
func callCause(words string, e *control.Error) string {
	out := words
	if c := e.Cause; c.Module != e.Call.Module || c.Function != e.Call.Function {
		out += ": in " + c.Module + ":" + c.Function
	}
	detail := e.Cause.Detail
	if detail == "" {
		detail = codeHints[e.Code]
	}
	if detail != "" {
		out += ": " + detail
	}
	return out
}

// cleanDetail drops from an error message of the host what only a Go programmer
// needs: the batch wrapper, package prefixes, module[...] tags (as
// "module" or "module:function"), and the code repeated in words.
func cleanDetail(msg string) string {
	msg = batchPrefixRE.ReplaceAllString(msg, "")
	msg = moduleTagRE.ReplaceAllStringFunc(msg, func(s string) string {
		m := moduleTagRE.FindStringSubmatch(s)
		if m[2] != "" {
			return m[1] + ":" + m[2]
		}
		return m[1]
	})
	for prev := ""; prev != msg; {
		prev, msg = msg, pkgPrefixRE.ReplaceAllString(msg, "$1")
	}
	// "a: bad module: x" → "a: x": the code says it already.
	msg = codeEchoRE.ReplaceAllString(msg, "$1")
	// "a: a: x" → "a: x", as the batch and the module both name it.
	parts := strings.Split(msg, ": ")
	out := parts[:0]
	for i, p := range parts {
		if i > 0 && p == parts[i-1] {
			continue
		}
		out = append(out, p)
	}
	return strings.TrimSpace(strings.Join(out, ": "))
}

// trimSubject drops from the front of a cause what the failure names
// already: "load junk" and "junk: x" read "load junk: x", "call m:f" and
// "call m:f argument 2: x" read "call m:f: argument 2: x".
func trimSubject(what, c string) string {
	if rest, ok := strings.CutPrefix(c, what+" "); ok {
		return rest
	}
	if rest, ok := strings.CutPrefix(c, what+": "); ok {
		return rest
	}
	// One subject only: in "load junk, a" the cause's "junk: " says which.
	if fields := strings.Fields(what); len(fields) == 2 {
		if rest, ok := strings.CutPrefix(c, fields[1]+": "); ok {
			return rest
		}
	}
	return c
}

// oneLine makes an error message one line: a Wasm stack trace becomes
// "(wasm stack: f < g)", other line breaks "; ".
func oneLine(msg string) string {
	msg = strings.TrimSpace(msg)
	if !strings.Contains(msg, "\n") {
		return msg
	}
	head, stack, found := strings.Cut(msg, "\nwasm stack trace:")
	var lines []string
	for _, l := range strings.Split(head, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	out := strings.Join(lines, "; ")
	if found {
		var frames []string
		for _, l := range strings.Split(stack, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				frames = append(frames, l)
			}
		}
		if len(frames) > 0 {
			out += " (wasm stack: " + strings.Join(frames, " < ") + ")"
		}
	}
	return out
}

// notModuleName says why name is not a module name.
func notModuleName(name string) string {
	return fmt.Sprintf("%q is not a module name (want [a-z][a-z0-9_]{0,63})", name)
}

// plural is "1 process", "2 processes".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
