package main

import (
	"github.com/urfave/cli/v2"
)

func softPurgeCommand() *cli.Command {
	return &cli.Command{
		Name:      "soft-purge",
		Usage:     "free a module's old code unless a process lingers in it (code:soft_purge/1)",
		ArgsUsage: "MODULE",
		Description: "Prints true when the old code was freed or there was none, false when a\n" +
			"process still lingers in it (nothing is killed).",
		Flags: nodeFlags(),
		Action: func(c *cli.Context) error {
			args, err := exactArgs(c, 1)
			if err != nil {
				return err
			}
			cl, err := nodeClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			ok, err := cl.SoftPurge(c.Context, args[0])
			if err != nil {
				return err
			}
			printBool(c, ok)
			return nil
		},
	}
}
