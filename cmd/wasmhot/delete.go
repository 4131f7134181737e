package main

import (
	"github.com/urfave/cli/v2"
)

func deleteCommand() *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "make a module's current code old, leaving none current (code:delete/1)",
		ArgsUsage: "MODULE",
		Description: "Prints true when the current code became old, false (changing nothing)\n" +
			"when the module has no current code or still has old code. New external\n" +
			"calls to the module then fail with undef.",
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
			ok, err := cl.Delete(c.Context, args[0])
			if err != nil {
				return err
			}
			printBool(c, ok)
			return nil
		},
	}
}
