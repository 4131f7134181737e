package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs moves a command's flags that follow its positional arguments
// in front of them, so that "wasmhot spawn a run --state 50" works:
// urfave/cli v2, like Go's flag package, stops at the first positional
// argument. Only names the command defines move; anything else (such as
// the negative number in "call m f -1") stays positional, and a "--" is put
// before the positional arguments when one of them starts with a dash.
// A "--" typed by the user ends the reordering.
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	cmd := app.Command(args[1])
	if cmd == nil || cmd.SkipFlagParsing {
		return args
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
	rest := args[2:]
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
		if !isFlag || name == "" || !ok {
			pos = append(pos, a)
			if strings.HasPrefix(a, "-") {
				dashed = true
			}
			continue
		}
		flags = append(flags, a)
		if fi.takesValue && !inline && i+1 < len(rest) {
			i++
			flags = append(flags, rest[i])
		}
	}
	out := append([]string{args[0], args[1]}, flags...)
	if dashed && len(pos) > 0 {
		out = append(out, "--")
	}
	return append(out, pos...)
}
