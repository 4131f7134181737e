package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

func procsCommand() *cli.Command {
	return &cli.Command{
		Name:  "procs",
		Usage: "list a node's processes",
		Description: "Columns: pid, module it was spawned in, version of the instance it runs,\n" +
			"status (running, suspended in receive or sleep, exited), mailbox length,\n" +
			"exit reason. --all also lists the processes that exited recently (the\n" +
			"node keeps the last 1024). --json prints every field (see README.md,\n" +
			"\"JSON output\").\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot procs --all --json",
		Flags: nodeFlags(
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "include exited processes"},
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
			ps, err := cl.Procs(c.Context, c.Bool("all"))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, ps)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PID\tMODULE\tVSN\tSTATUS\tMAILBOX\tFUEL\tEXIT")
			for _, p := range ps {
				vsn, exit := "-", "-"
				if p.Vsn != 0 {
					vsn = fmt.Sprint(p.Vsn)
				}
				if p.Exit != nil {
					exit = p.Exit.Reason
					if p.Exit.Error != "" {
						exit += ": " + p.Exit.Error
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", p.PID, p.Module, vsn, p.Status, p.MailboxLen, p.Fuel, exit)
			}
			return tw.Flush()
		},
	}
}
