package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func killCommand() *cli.Command {
	return &cli.Command{
		Name:      "kill",
		Usage:     "end a process with reason killed (exit(Pid, kill))",
		ArgsUsage: "PID",
		Description: "Kills the live process PID (its uuid, or a unique prefix of it of at\n" +
			"least 4 hex digits) wherever it runs, even spinning in Wasm (in the\n" +
			"default sandboxed mode); it exits with reason killed. Prints the full\n" +
			"pid. A process that exited already is an error (noproc), as is a prefix\n" +
			"that names no process or several.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot kill 8b65b503",
		Flags: nodeFlags(),
		Action: func(c *cli.Context) error {
			args, err := exactArgs(c, 1)
			if err != nil {
				return err
			}
			what := "kill " + args[0]
			cl, err := nodeClient(c)
			if err != nil {
				return fail(what, err)
			}
			defer cl.Close()
			pid, err := cl.Kill(c.Context, args[0])
			if err != nil {
				return fail(what, err)
			}
			fmt.Fprintln(c.App.Writer, pid)
			return nil
		},
	}
}
