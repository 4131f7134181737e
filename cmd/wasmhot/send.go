package main

import (
	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
)

func sendCommand() *cli.Command {
	return &cli.Command{
		Name:      "send",
		Usage:     "put a message in a process's mailbox",
		ArgsUsage: "PID TEXT",
		Description: "Sends TEXT (its bytes, as given) to the process. PID may be a unique\n" +
			"prefix of the pid (at least 4 hex digits, as `procs` and the demo show\n" +
			"them). Use -- before a TEXT that starts with a dash.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot send \"$pid\" hello",
		Flags: nodeFlags(),
		Action: func(c *cli.Context) error {
			args, err := exactArgs(c, 2)
			if err != nil {
				return err
			}
			what := "send " + args[0]
			cl, err := nodeClient(c)
			if err != nil {
				return fail(what, err)
			}
			defer cl.Close()
			return fail(what, cl.Send(c.Context, control.SendRequest{PID: args[0], Message: args[1]}))
		},
	}
}
