package main

import (
	"crypto/sha256"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/modules"
)

func vsnCommand() *cli.Command {
	return &cli.Command{
		Name:      "vsn",
		Usage:     "print or set the vsn tag of a .wasm file (its wasmhot.vsn custom section)",
		ArgsUsage: "FILE [TAG]",
		Description: "A module names its version, like Erlang's -vsn attribute, with a\n" +
			"wasmhot.vsn custom section: up to 64 bytes of UTF-8 without spaces or\n" +
			"control characters. `modules`, `which` and code_change show it; a module\n" +
			"without one is tagged sha256: and 16 hex digits of its bytes, so the same\n" +
			"bytes keep the same tag. With FILE only, prints FILE's tag. With TAG,\n" +
			"appends the section to FILE (rewritten in place; a file that has one\n" +
			"already is an error). C guests set it in the source (WH_VSN in\n" +
			"wasmhot.h); Go's linker cannot write custom sections, so Go guests set\n" +
			"it with this command after go build.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot vsn server.wasm 1.2.0",
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) < 1 || len(args) > 2 {
				return usageError(c, fmt.Sprintf("want FILE [TAG], got %d argument(s)", len(args)))
			}
			file := args[0]
			wasm, err := os.ReadFile(file)
			if err != nil {
				return fail("vsn", err)
			}
			if len(args) == 1 {
				tag, err := modules.VsnTag(wasm)
				if err != nil {
					return fail("vsn "+file, err)
				}
				if tag == "" {
					tag = modules.DefaultVsnTag(sha256.Sum256(wasm)) + " (no " + modules.VsnSection + " section)"
				}
				fmt.Fprintln(c.App.Writer, tag)
				return nil
			}
			out, err := modules.AppendVsnSection(wasm, args[1])
			if err != nil {
				return fail("vsn "+file, err)
			}
			st, err := os.Stat(file)
			if err != nil {
				return fail("vsn", err)
			}
			if err := os.WriteFile(file, out, st.Mode().Perm()); err != nil {
				return fail("vsn", err)
			}
			fmt.Fprintf(c.App.Writer, "%s: vsn %s\n", file, args[1])
			return nil
		},
	}
}
