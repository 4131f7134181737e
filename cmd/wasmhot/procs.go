package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
)

func procsCommand() *cli.Command {
	return &cli.Command{
		Name:      "procs",
		Usage:     "list a node's processes, or describe some",
		ArgsUsage: "[PID]...",
		Description: "Columns: pid, module it was spawned in, version of the instance it runs,\n" +
			"status (running, suspended in receive or sleep, sys-suspended by the\n" +
			"suspend command until resume, exited), mailbox length,\n" +
			"fuel used, exit reason. --all also lists the processes that exited\n" +
			"recently (the node keeps the last 1024). With PIDs (each a pid or a\n" +
			"unique prefix of at least 4 hex digits) only those processes, live or\n" +
			"exited; a PID the node does not know is an error. --json prints every\n" +
			"field (see README.md, \"JSON output\").\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot procs --all --json\n" +
			"   wasmhot procs 8b65b503",
		Flags: nodeFlags(
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "include exited processes"},
		),
		Action: func(c *cli.Context) error {
			pids := c.Args().Slice()
			if len(pids) > 0 && c.Bool("all") {
				return usageError(c, "--all lists every process; give PIDs or --all, not both")
			}
			what := "procs"
			if len(pids) > 0 {
				what += " " + strings.Join(pids, " ")
			}
			cl, err := nodeClient(c)
			if err != nil {
				return fail(what, err)
			}
			defer cl.Close()
			var ps []control.Process
			if len(pids) > 0 {
				ps, err = cl.ProcsByPID(c.Context, pids...)
			} else {
				ps, err = cl.Procs(c.Context, c.Bool("all"))
			}
			if err != nil {
				return fail(what, err)
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
				status := p.Status
				if p.Suspended && p.Exit == nil {
					status = "sys-suspended"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", p.PID, p.Module, vsn, status, p.MailboxLen, p.Fuel, exit)
			}
			return tw.Flush()
		},
	}
}
