package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
)

func spawnCommand() *cli.Command {
	return &cli.Command{
		Name:      "spawn",
		Usage:     "start a process running MODULE:FUNCTION and print its pid",
		ArgsUsage: "MODULE FUNCTION",
		Description: "FUNCTION is an export of type () -> () of the module's current version;\n" +
			"--state gives the process's initial state (text).\n" +
			"\n" +
			"Example:\n" +
			"   pid=$(wasmhot spawn test run --state 50)",
		Flags: nodeFlags(
			&cli.StringFlag{Name: "state", Usage: "the initial state of the process: `TEXT`"},
		),
		Action: func(c *cli.Context) error {
			args, err := exactArgs(c, 2)
			if err != nil {
				return err
			}
			what := "spawn " + args[0] + ":" + args[1]
			cl, err := nodeClient(c)
			if err != nil {
				return fail(what, err)
			}
			defer cl.Close()
			pid, err := cl.Spawn(c.Context, control.SpawnRequest{Module: args[0], Function: args[1], State: c.String("state")})
			if err != nil {
				return fail(what, err)
			}
			fmt.Fprintln(c.App.Writer, pid)
			return nil
		},
	}
}
