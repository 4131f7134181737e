package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
)

func callCommand() *cli.Command {
	return &cli.Command{
		Name:      "call",
		Usage:     "call MODULE:FUNCTION with numbers and print the results",
		ArgsUsage: "MODULE FUNCTION [NUMBER]...",
		Description: "The call goes through the export table to the module's current version,\n" +
			"as every external call does. Each NUMBER is converted to the type of the\n" +
			"function's parameter: i32 and i64 take decimal (or 0x, 0o, 0b) integers,\n" +
			"signed or unsigned within their width; f32 and f64 take floats (1.5, 1e-3,\n" +
			"inf). The results are printed on one line, separated by spaces, integers\n" +
			"as signed decimals. Negative numbers need no \"--\". A module the node\n" +
			"has not loaded yet (it may load it from its code path on this call) takes\n" +
			"every NUMBER as a 64-bit integer.\n" +
			"\n" +
			"The call is bounded by --timeout (default 30s, at most 1h); past it, it\n" +
			"fails with timeout.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot call counter add -5 2",
		Flags: append(nodeFlags(),
			&cli.DurationFlag{Name: "timeout", Value: control.DefaultCallTimeout, Usage: "bound on the call"}),
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 {
				return usageError(c, "want MODULE and FUNCTION")
			}
			args := c.Args().Slice()
			what := "call " + args[0] + ":" + args[1]
			timeout := c.Duration("timeout")
			if timeout < time.Millisecond || timeout > control.MaxCallTimeout {
				return usageError(c, fmt.Sprintf("--timeout %v: want 1ms..%v", timeout, control.MaxCallTimeout))
			}
			cl, err := nodeClient(c)
			if err != nil {
				return fail(what, err)
			}
			defer cl.Close()
			res, err := cl.Call(c.Context, control.CallRequest{Module: args[0], Function: args[1], Args: append([]string{}, args[2:]...),
				TimeoutMs: timeout.Milliseconds()})
			if err != nil {
				return fail(what, err)
			}
			vals := make([]string, len(res))
			for i, v := range res {
				vals[i] = v.Value
			}
			if len(vals) > 0 {
				fmt.Fprintln(c.App.Writer, strings.Join(vals, " "))
			}
			return nil
		},
	}
}
