package main

import (
	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
)

func softPurgeCommand() *cli.Command {
	return &cli.Command{
		Name:      "soft-purge",
		Usage:     "free a module's old code unless a process lingers in it (code:soft_purge/1)",
		ArgsUsage: "MODULE",
		Description: "Prints true when the old code was freed or there was none, false when a\n" +
			"process still lingers in it (nothing is killed). With --cluster, on every\n" +
			"live node of the node's fleet (rpc:multicall of code:soft_purge/1): one\n" +
			"line per node, NODE: true or false (or why it failed).\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot soft-purge a        # false while a process lingers in a's old code\n" +
			"   wasmhot soft-purge --cluster a",
		Flags: nodeFlags(clusterFlag("soft-purge")),
		Action: orCluster(moduleBool("/v1/soft-purge"), func(c *cli.Context, cl *control.Client, what, module string) error {
			answers, err := cl.ClusterSoftPurge(c.Context, module)
			return everywhereDone(c, what, answers, err, false, false)
		}),
	}
}
