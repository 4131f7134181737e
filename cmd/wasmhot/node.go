package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

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
		&cli.DurationFlag{
			Name:    "wait",
			Value:   defaultWait,
			Usage:   "wait up to `DURATION` for a node that is starting (its socket not there yet, or refusing connections); 0: do not wait",
			EnvVars: []string{"WASMHOT_WAIT"},
		},
	}, extra...)
}

// defaultWait is how long a client command waits for its node by default:
// enough for `wasmhot serve &` followed at once by a client command.
const defaultWait = 5 * time.Second

// nodeClient returns a client of the node the flags name, once the node
// accepts connections (waiting up to --wait for it). A bad --wait is a
// usage error.
func nodeClient(c *cli.Context) (*control.Client, error) {
	wait := c.Duration("wait")
	if wait < 0 {
		return nil, usageError(c, fmt.Sprintf("--wait %v: want 0 or more", wait))
	}
	cl, err := dialNode(c)
	if err != nil {
		return nil, err
	}
	if err := cl.Wait(c.Context, wait); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// dialNode returns a client of the node the flags name, without waiting.
func dialNode(c *cli.Context) (*control.Client, error) {
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
// the node's endpoint path a yes-or-no question about it, and prints true
// or false, as Erlang prints the booleans of code:soft_purge/1 and
// code:delete/1.
func moduleBool(path string) cli.ActionFunc {
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
		var res control.BoolResponse
		err = cl.Do(c.Context, http.MethodPost, path, control.ModuleRequest{Module: args[0]}, &res)
		if err != nil {
			return fail(what, err)
		}
		printBool(c, res.Result)
		noteUnknown(c, res.UnknownModule, args[0])
		return nil
	}
}

// noteUnknown adds, on stderr, a note that the node has no module name,
// when it said so: the Erlang answer printed stays what it is, but a
// mistyped name should not pass for a module with nothing to do.
func noteUnknown(c *cli.Context, unknown bool, name string) {
	if unknown {
		fmt.Fprintf(c.App.ErrWriter, "wasmhot: note: no module named %s is loaded on this node\n", name)
	}
}

// printJSON writes v as indented JSON: the stable output of --json.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
