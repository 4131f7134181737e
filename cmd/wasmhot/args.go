package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs moves a command's flags that follow its positional arguments
// in front of them, so that "wasmhot spawn a run --state 50" works:
// urfave/cli v2, like Go's flag package, stops at the first positional
// argument. Names the command defines move; so does anything else that
// looks like a flag and is not a number, so that urfave/cli refuses it as
// an unknown flag. Numbers stay positional (the negative number in
// "call m f -1"), and a "--" is put before the positional arguments when
// one of them starts with a dash. A "--" typed by the user ends the
// reordering. A flag that needs a value and comes last without one is a
// usage error.
func reorderArgs(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	cmd := app.Command(args[1])
	if cmd == nil || cmd.SkipFlagParsing {
		return args, nil
	}
	// A command group's subcommand ("cluster status --json") reorders its
	// own flags, which may come before its name too.
	head := 2
	if i := subcommandAt(cmd, args); i > 0 {
		args = append(append(append([]string{}, args[:2]...), args[i]), append(args[2:i:i], args[i+1:]...)...)
		cmd, head = cmd.Command(args[2]), 3
	}
	type flagInfo struct{ takesValue bool }
	known := map[string]flagInfo{"help": {}, "h": {}}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			known[n] = flagInfo{takesValue: !isBool}
		}
	}
	var flags, pos []string
	dashed := false
	rest := args[head:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i+1:]...)
			dashed = true
			break
		}
		name, isFlag := strings.CutPrefix(a, "--")
		if !isFlag {
			name, isFlag = strings.CutPrefix(a, "-")
		}
		name, _, inline := strings.Cut(name, "=")
		fi, ok := known[name]
		if !isFlag || name == "" || isNumber(a) {
			pos = append(pos, a)
			if strings.HasPrefix(a, "-") {
				dashed = true
			}
			continue
		}
		flags = append(flags, a)
		if !ok || !fi.takesValue || inline {
			continue // an unknown flag: urfave/cli refuses it
		}
		if i+1 == len(rest) {
			path := strings.Join(args[1:head], " ")
			return nil, &usageErr{fmt.Sprintf("%s: flag %s needs a value (see wasmhot %s --help)", path, dashes(name), path)}
		}
		i++
		flags = append(flags, rest[i])
	}
	out := append(append([]string{}, args[:head]...), flags...)
	if dashed && len(pos) > 0 {
		out = append(out, "--")
	}
	return append(out, pos...), nil
}

// subcommandAt returns the index in args of the name of one of cmd's
// subcommands, the first argument that is not a flag or a flag's value;
// 0 when there is none.
func subcommandAt(cmd *cli.Command, args []string) int {
	takesValue := map[string]bool{}
	for _, sub := range cmd.Subcommands {
		for _, f := range sub.Flags {
			if _, isBool := f.(*cli.BoolFlag); !isBool {
				for _, n := range f.Names() {
					takesValue[n] = true
				}
			}
		}
	}
	for i := 2; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return 0
		}
		if strings.HasPrefix(a, "-") {
			if name := strings.TrimLeft(a, "-"); !strings.Contains(name, "=") && takesValue[name] {
				i++ // its value
			}
			continue
		}
		if cmd.Command(a) != nil {
			return i
		}
		return 0
	}
	return 0
}

// isNumber reports whether a is a number a Wasm parameter can take, such
// as -1, -0x10 or -1.5e3.
func isNumber(a string) bool {
	if _, err := strconv.ParseInt(a, 0, 64); err == nil {
		return true
	}
	_, err := strconv.ParseFloat(a, 64)
	return err == nil
}
