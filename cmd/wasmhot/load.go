package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/internal/control"
	"github.com/wasmhot/wasmhot/modules"
)

func loadCommand() *cli.Command {
	return &cli.Command{
		Name:      "load",
		Usage:     "load modules into a node, all of them or none",
		ArgsUsage: "FILE.wasm...",
		Description: "Each file becomes the new current version of the module named by its base\n" +
			"name (a.wasm: module a), and the previous current version becomes old.\n" +
			"Several files load atomically (code:atomic_load/1): if one fails, none is\n" +
			"loaded. A module that still has old code refuses with {error,not_purged},\n" +
			"as code:load_file/1; --purge purges the old code first, killing the\n" +
			"processes lingering in it, as c:l/1. The bytes are checked before anything\n" +
			"is purged, so a bad module changes nothing.",
		Flags: nodeFlags(
			&cli.StringFlag{Name: "name", Usage: "load the one FILE as module `NAME`"},
			&cli.BoolFlag{Name: "purge", Usage: "purge old code first, killing the processes lingering in it"},
			&cli.BoolFlag{Name: "sticky", Usage: "mark the modules sticky: they then refuse reload and delete"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageError(c, "no files")
			}
			if c.IsSet("name") && c.NArg() != 1 {
				return usageError(c, "--name goes with exactly one file")
			}
			req := control.LoadRequest{Purge: c.Bool("purge"), Sticky: c.Bool("sticky")}
			for _, f := range c.Args().Slice() {
				name := c.String("name")
				if name == "" {
					name = moduleName(f)
				}
				if err := modules.CheckName(name); err != nil {
					return fmt.Errorf("%s: %w; see --name", f, err)
				}
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				req.Modules = append(req.Modules, control.ModuleSource{Name: name, Wasm: b})
			}
			cl, err := nodeClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			res, err := cl.Load(c.Context, req)
			if err != nil {
				return err
			}
			for _, m := range res.Modules {
				fmt.Fprintln(c.App.Writer, describeLoad(m))
			}
			if res.Killed > 0 {
				fmt.Fprintf(c.App.Writer, "purge killed %d process(es)\n", res.Killed)
			}
			return nil
		},
	}
}

// moduleName is the module a file loads as: its base name without .wasm.
func moduleName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".wasm")
}

// describeLoad says what a load made current.
func describeLoad(m control.Module) string {
	if m.Current == nil {
		return fmt.Sprintf("%s: no current code", m.Name)
	}
	s := fmt.Sprintf("loaded %s vsn %d (sha256 %.12s, %d bytes)", m.Name, m.Current.Vsn, m.Current.SHA256, m.Current.Size)
	if m.Old != nil {
		s += fmt.Sprintf("; old vsn %d, %d lingering", m.Old.Vsn, m.Old.Lingering)
	}
	if m.Sticky {
		s += "; sticky"
	}
	return s
}
