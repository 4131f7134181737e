package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func purgeCommand() *cli.Command {
	return &cli.Command{
		Name:      "purge",
		Usage:     "free a module's old code, killing the processes lingering in it (code:purge/1)",
		ArgsUsage: "MODULE",
		Description: "Prints true when a process was killed, false otherwise (as code:purge/1);\n" +
			"with --verbose also what the purge did.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot purge --verbose a",
		Flags: nodeFlags(
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "also print the counts of killed processes and stopped calls"},
		),
		Action: func(c *cli.Context) error {
			args, err := exactArgs(c, 1)
			if err != nil {
				return err
			}
			what := "purge " + args[0]
			cl, err := nodeClient(c)
			if err != nil {
				return fail(what, err)
			}
			defer cl.Close()
			res, err := cl.Purge(c.Context, args[0])
			if err != nil {
				return fail(what, err)
			}
			printBool(c, res.Result)
			noteUnknown(c, res.UnknownModule, args[0])
			if c.Bool("verbose") {
				fmt.Fprintf(c.App.Writer, "killed %d process(es), interrupted %d call(s), waited for %d call(s)\n",
					res.Killed, res.Interrupted, res.Waited)
			}
			return nil
		},
	}
}
