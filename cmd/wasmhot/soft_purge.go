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
			"process still lingers in it (nothing is killed).\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot soft-purge a        # false while a process lingers in a's old code",
		Flags:  nodeFlags(),
		Action: moduleBool("/v1/soft-purge"),
	}
}
