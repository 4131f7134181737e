package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
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
			"loaded. A module that still has old code refuses (not purged, as\n" +
			"code:load_file/1's {error,not_purged}; the error says how many processes\n" +
			"linger in the old code); --purge purges the old code first, killing the\n" +
			"processes lingering in it, as c:l/1. The bytes are checked before anything\n" +
			"is purged, so a bad module changes nothing.\n" +
			"\n" +
			"With --cluster the files load on every node of the node's fleet (wasmhot\n" +
			"serve --cluster), all nodes or none, as rpc:multicall of\n" +
			"code:atomic_load/1 that commits only when every node prepared: each node\n" +
			"fetches the bytes, compiles them and checks them against its own policy;\n" +
			"only when all did does any switch. One line per node (switched, refused\n" +
			"and why, or no answer), then the phases' times; it exits 0 only when\n" +
			"every live node switched.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot load --purge a.wasm b.wasm\n" +
			"   wasmhot load --cluster --purge a.wasm",
		Flags: nodeFlags(
			&cli.StringFlag{Name: "name", Usage: "load the one FILE as module `NAME`"},
			&cli.BoolFlag{Name: "purge", Usage: "purge old code first, killing the processes lingering in it"},
			&cli.BoolFlag{Name: "sticky", Usage: "mark the modules sticky: they then refuse reload and delete"},
			clusterFlag("load"),
		),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageError(c, "no files")
			}
			if c.IsSet("name") && c.NArg() != 1 {
				return usageError(c, "--name goes with exactly one file")
			}
			if c.IsSet("name") {
				if name := c.String("name"); !modules.ValidName(name) {
					return usageError(c, "--name "+notModuleName(name))
				}
			}
			if c.Bool("cluster") && c.Bool("sticky") {
				return usageError(c, "--sticky and --cluster: a fleet's modules are not sticky")
			}
			req := control.LoadRequest{Purge: c.Bool("purge"), Sticky: c.Bool("sticky")}
			var names []string
			for _, f := range c.Args().Slice() {
				name := c.String("name")
				if name == "" {
					name = moduleName(f)
				}
				if err := modules.CheckName(name); err != nil {
					return fail("load "+f, &explained{notModuleName(name) + "; use --name", err})
				}
				b, err := os.ReadFile(f)
				if err != nil {
					return fail("load "+name, err)
				}
				req.Modules = append(req.Modules, control.ModuleSource{Name: name, Wasm: b})
				names = append(names, name)
			}
			what := "load " + strings.Join(names, ", ")
			cl, err := nodeClient(c)
			if err != nil {
				return fail(what, err)
			}
			defer cl.Close()
			if c.Bool("cluster") {
				rep, err := cl.ClusterLoad(c.Context, control.ClusterLoadRequest{Modules: req.Modules, Purge: req.Purge})
				return rolloutDone(c, "cluster "+what, rep, err)
			}
			res, err := cl.Load(c.Context, req)
			var ce *control.Error
			if errors.As(err, &ce) && ce.Code == control.CodeNotPurged {
				err = notPurged(c.Context, cl, names, ce)
			}
			if err != nil {
				return fail(what, err)
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

// notPurged explains a not_purged refusal of a load of names: how many
// processes linger in the old code, and what --purge would do. The node's
// error does not count them, so it asks the node for its modules.
func notPurged(ctx context.Context, cl *control.Client, names []string, ce *control.Error) error {
	mods, err := cl.Modules(ctx)
	if err != nil {
		return ce
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var old []string
	lingering := 0
	for _, m := range mods {
		if want[m.Name] && m.Old != nil {
			old = append(old, m.Name)
			lingering += m.Old.Lingering
		}
	}
	if len(old) == 0 {
		return ce // purged meanwhile: the node's word stands
	}
	of := ""
	if len(names) > 1 {
		of = " of " + strings.Join(old, ", ")
	}
	var msg string
	switch lingering {
	case 0:
		msg = fmt.Sprintf("not purged: old code%s still loaded, no process in it; use --purge (or wasmhot soft-purge) to free it", of)
	case 1:
		msg = fmt.Sprintf("not purged: old code%s still in use by 1 process; use --purge to kill it", of)
	default:
		msg = fmt.Sprintf("not purged: old code%s still in use by %s; use --purge to kill them", of, plural(lingering, "process", "processes"))
	}
	return &explained{msg: msg, err: ce}
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
	s := fmt.Sprintf("loaded %s vsn %d (%s, sha256 %.12s, %d bytes)", m.Name, m.Current.Vsn, m.Current.VsnTag, m.Current.SHA256, m.Current.Size)
	if m.Old != nil {
		s += fmt.Sprintf("; old vsn %d, %d lingering", m.Old.Vsn, m.Old.Lingering)
	}
	if m.Sticky {
		s += "; sticky"
	}
	return s
}
