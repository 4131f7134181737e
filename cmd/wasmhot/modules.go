package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
)

func modulesCommand() *cli.Command {
	return &cli.Command{
		Name:  "modules",
		Usage: "list a node's modules: current and old versions (code:all_loaded/0)",
		Description: "Columns: module name; current version (load counter), its vsn tag\n" +
			"(wasmhot.vsn section, or sha256:... without one), uuid, sha256 (first 12 hex\n" +
			"digits), size in bytes and load time; old version or none and how many\n" +
			"processes linger in it; sticky. --json prints everything, with full\n" +
			"sha256 and exports (fields: see README.md, \"JSON output\").\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot modules --json",
		Flags: nodeFlags(
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
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
			mods, err := cl.Modules(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, mods)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MODULE\tVSN\tTAG\tUUID\tSHA256\tSIZE\tLOADED\tOLD\tLINGERING\tSTICKY")
			for _, m := range mods {
				vsn, tag, id, sum, size, at := "-", "-", "-", "-", "-", "-"
				if v := m.Current; v != nil {
					vsn, tag, id, sum = fmt.Sprint(v.Vsn), v.VsnTag, v.UUID, fmt.Sprintf("%.12s", v.SHA256)
					size, at = fmt.Sprint(v.Size), v.LoadedAt.Local().Format(time.DateTime)
				}
				old, lin := "none", "-"
				if v := m.Old; v != nil {
					old, lin = fmt.Sprint(v.Vsn), fmt.Sprint(v.Lingering)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\n", m.Name, vsn, tag, id, sum, size, at, old, lin, m.Sticky)
			}
			return tw.Flush()
		},
	}
}
