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
			"with --verbose also what the purge did. With --cluster, on every live node\n" +
			"of the node's fleet (rpc:multicall of code:purge/1): one line per node,\n" +
			"NODE: true or false (or why it failed); it exits 0 only when every node\n" +
			"purged.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot purge --verbose a\n" +
			"   wasmhot purge --cluster a",
		Flags: nodeFlags(
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "also print the counts of killed processes and stopped calls"},
			clusterFlag("purge"),
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
			if c.Bool("cluster") {
				answers, err := cl.ClusterPurge(c.Context, args[0])
				return everywhereDone(c, "cluster "+what, answers, err, true, c.Bool("verbose"))
			}
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
