package main

import (
	"github.com/urfave/cli/v2"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "tell whether a process lingers in a module's old code (erlang:check_process_code/2)",
		ArgsUsage: "PID MODULE",
		Description: "Prints true when the process lingers in the module's old code (a purge\n" +
			"would kill it), else false.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot check \"$pid\" a",
		Flags: nodeFlags(),
		Action: func(c *cli.Context) error {
			args, err := exactArgs(c, 2)
			if err != nil {
				return err
			}
			what := "check " + args[0] + " " + args[1]
			cl, err := nodeClient(c)
			if err != nil {
				return fail(what, err)
			}
			defer cl.Close()
			ok, err := cl.Check(c.Context, args[0], args[1])
			if err != nil {
				return fail(what, err)
			}
			printBool(c, ok)
			return nil
		},
	}
}
