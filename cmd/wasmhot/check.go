package main

import (
	"net/http"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "tell whether a process lingers in a module's old code (erlang:check_process_code/2)",
		ArgsUsage: "PID MODULE",
		Description: "Prints true when the process lingers in the module's old code (a purge\n" +
			"would kill it), else false. PID may be a unique prefix of the pid (at\n" +
			"least 4 hex digits).\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot check \"$pid\" a",
		Flags: nodeFlags(),
		Action: func(c *cli.Context) error {
			args, err := exactArgs(c, 2)
			if err != nil {
				return err
			}
			what := "check " + args[0] + " " + args[1]
			cl, err := nodeClient(c)
			if err != nil {
				return fail(what, err)
			}
			defer cl.Close()
			var res control.BoolResponse
			err = cl.Do(c.Context, http.MethodPost, "/v1/check", control.CheckRequest{PID: args[0], Module: args[1]}, &res)
			if err != nil {
				return fail(what, err)
			}
			printBool(c, res.Result)
			noteUnknown(c, res.UnknownModule, args[1])
			return nil
		},
	}
}
