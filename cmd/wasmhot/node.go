package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
)

// nodeFlags are the flags of every client command, then extra.
func nodeFlags(extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{
			Name:    "node",
			Usage:   "the node: a Unix socket `PATH` (default $XDG_RUNTIME_DIR/wasmhot.sock, else ./wasmhot.sock) or a loopback HOST:PORT",
			EnvVars: []string{"WASMHOT_NODE"},
		},
		&cli.StringFlag{
			Name:    "token-file",
			Usage:   "read the bearer token of a TCP node from `FILE`",
			EnvVars: []string{"WASMHOT_TOKEN_FILE"},
		},
	}, extra...)
}

// nodeClient returns a client of the node the flags name.
func nodeClient(c *cli.Context) (*control.Client, error) {
	node := c.String("node")
	if node == "" {
		node = control.DefaultSocket()
	}
	token := ""
	if f := c.String("token-file"); f != "" {
		var err error
		if token, err = control.ReadToken(f); err != nil {
			return nil, err
		}
	}
	return control.Dial(node, token)
}

// printBool prints an Erlang boolean.
func printBool(c *cli.Context, b bool) {
	fmt.Fprintln(c.App.Writer, b)
}

// moduleBool is the action of a command that takes one module name, asks
// the node a yes-or-no question about it, and prints true or false, as
// Erlang prints the booleans of code:soft_purge/1 and code:delete/1.
func moduleBool(ask func(cl *control.Client, ctx context.Context, module string) (bool, error)) cli.ActionFunc {
	return func(c *cli.Context) error {
		args, err := exactArgs(c, 1)
		if err != nil {
			return err
		}
		what := c.Command.Name + " " + args[0]
		cl, err := nodeClient(c)
		if err != nil {
			return fail(what, err)
		}
		defer cl.Close()
		ok, err := ask(cl, c.Context, args[0])
		if err != nil {
			return fail(what, err)
		}
		printBool(c, ok)
		return nil
	}
}

// printJSON writes v as indented JSON: the stable output of --json.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
