package main

import (
	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
)

func deleteCommand() *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "make a module's current code old, leaving none current (code:delete/1)",
		ArgsUsage: "MODULE",
		Description: "Prints true when the current code became old, false (changing nothing)\n" +
			"when the module has no current code or still has old code. New external\n" +
			"calls to the module then fail with undef.\n" +
			"\n" +
			"With --cluster, on every node of the node's fleet, as a rollout: each\n" +
			"node purges the module's old code and deletes it, and the fleet's desired\n" +
			"versions mark it deleted, so that nodes joining later do not load it. One\n" +
			"line per node; it exits 0 only when every live node deleted it.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot delete a && wasmhot purge a\n" +
			"   wasmhot delete --cluster a",
		Flags: nodeFlags(clusterFlag("delete")),
		Action: orCluster(moduleBool("/v1/delete"), func(c *cli.Context, cl *control.Client, what, module string) error {
			rep, err := cl.ClusterDelete(c.Context, module)
			return rolloutDone(c, what, rep, err)
		}),
	}
}
