package main

import (
	"github.com/urfave/cli/v2"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "tell whether a process lingers in a module's old code (erlang:check_process_code/2)",
		ArgsUsage: "PID MODULE",
		Flags:     nodeFlags(),
		Action: func(c *cli.Context) error {
			args, err := exactArgs(c, 2)
			if err != nil {
				return err
			}
			cl, err := nodeClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			ok, err := cl.Check(c.Context, args[0], args[1])
			if err != nil {
				return err
			}
			printBool(c, ok)
			return nil
		},
	}
}
