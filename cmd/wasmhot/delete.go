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
			"calls to the module then fail with undef.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot delete a && wasmhot purge a",
		Flags:  nodeFlags(),
		Action: moduleBool("/v1/delete"),
	}
}
