package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
)

func callCommand() *cli.Command {
	return &cli.Command{
		Name:      "call",
		Usage:     "call MODULE:FUNCTION with numbers and print the results, or with bytes (--bytes)",
		ArgsUsage: "MODULE FUNCTION [NUMBER...|DATA|-]",
		Description: "The call goes through the export table to the module's current version,\n" +
			"as every external call does. Each NUMBER is converted to the type of the\n" +
			"function's parameter: i32 and i64 take decimal (or 0x, 0o, 0b) integers,\n" +
			"signed or unsigned within their width; f32 and f64 take floats (1.5, 1e-3,\n" +
			"inf). The results are printed on one line, separated by spaces, integers\n" +
			"as signed decimals. Negative numbers need no \"--\". A module the node\n" +
			"has not loaded yet (it may load it from its code path on this call) takes\n" +
			"every NUMBER as a 64-bit integer.\n" +
			"\n" +
			"With --bytes the function follows the bytes convention (it takes\n" +
			"(ptr, len i32) and returns ptr<<32|len, beside an export alloc): its input\n" +
			"is DATA as given, or standard input when DATA is -, or nothing; its\n" +
			"output goes to standard output as raw bytes, without a newline.\n" +
			"\n" +
			"The call is bounded by --timeout (default 30s, at most 1h); past it, it\n" +
			"fails with timeout.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot call counter add -5 2\n" +
			"   echo hello | wasmhot call --bytes counter echo -",
		Flags: append(nodeFlags(),
			&cli.DurationFlag{Name: "timeout", Value: control.DefaultCallTimeout, Usage: "bound on the call"},
			&cli.BoolFlag{Name: "bytes", Usage: "call by the bytes convention: DATA (or standard input, -) in, raw bytes out"}),
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
			if c.Bool("bytes") {
				return callBytes(c, what, args, timeout)
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

// maxStdinBytes bounds the input of call --bytes read from standard input:
// a request carries at most control.MaxRequestBytes, base64-encoded.
const maxStdinBytes = control.MaxRequestBytes / 4 * 3

// callBytes is call --bytes MODULE FUNCTION [DATA|-].
func callBytes(c *cli.Context, what string, args []string, timeout time.Duration) error {
	if len(args) > 3 {
		return usageError(c, fmt.Sprintf("--bytes takes one DATA (or - for standard input), got %d arguments after FUNCTION", len(args)-2))
	}
	var in []byte
	if len(args) == 3 {
		in = []byte(args[2])
		if args[2] == "-" {
			var err error
			if in, err = io.ReadAll(io.LimitReader(c.App.Reader, maxStdinBytes+1)); err != nil {
				return fail(what, fmt.Errorf("reading standard input: %w", err))
			}
			if len(in) > maxStdinBytes {
				return fail(what, fmt.Errorf("standard input: over %d bytes", maxStdinBytes))
			}
		}
	}
	cl, err := nodeClient(c)
	if err != nil {
		return fail(what, err)
	}
	defer cl.Close()
	out, err := cl.CallBytes(c.Context, control.CallBytesRequest{Module: args[0], Function: args[1], InputBase64: in,
		TimeoutMs: timeout.Milliseconds()})
	if err != nil {
		return fail(what, err)
	}
	_, err = c.App.Writer.Write(out)
	return err
}
