package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
)

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:  "logs",
		Usage: "print a node's recent guest log lines, and with --follow the new ones",
		Description: "Each line is \"MODULE vVSN PID: TEXT\", as the node prints it. The node\n" +
			"keeps its last 1000 lines; --follow goes on printing until interrupted\n" +
			"(exit 0) or until the node goes away: then it says so on stderr and\n" +
			"exits 1.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot logs --follow | grep ' v2 '",
		Flags: nodeFlags(
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new lines"},
		),
		Action: func(c *cli.Context) error {
			if _, err := exactArgs(c, 0); err != nil {
				return err
			}
			cl, err := nodeClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			err = cl.Logs(c.Context, c.Bool("follow"), func(l string) {
				fmt.Fprintln(c.App.Writer, l)
			})
			if errors.Is(err, control.ErrNodeGone) {
				node := c.String("node")
				if node == "" {
					node = control.DefaultSocket()
				}
				return &explained{fmt.Sprintf("node %s went away: it stopped, or was killed", node), err}
			}
			return err
		},
	}
}
