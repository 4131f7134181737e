package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
	"github.com/wasmhot/wasmhot/internal/watch"
	"github.com/wasmhot/wasmhot/modules"
)

func watchCommand() *cli.Command {
	return &cli.Command{
		Name:      "watch",
		Usage:     "reload changed .wasm files into a running node",
		ArgsUsage: "DIR|FILE.wasm...",
		Description: "Keeps a node running what the files hold, as Erlang's sync or rebar3\n" +
			"auto do: at start, every *.wasm of each DIR (and each FILE) whose module\n" +
			"the node does not run at that sha256 is loaded; then every file that\n" +
			"changes is loaded with purge (c:l/1: processes lingering in the oldest\n" +
			"code are killed). Files that change together load atomically. Files are\n" +
			"polled (stat every --interval, sha256 when size or mtime moved) and\n" +
			"loaded once unchanged for one interval. Runs until interrupted.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot watch --interval 500ms ./build",
		Flags: nodeFlags(
			&cli.DurationFlag{Name: "interval", Value: watch.DefaultInterval, Usage: "poll every `DURATION`"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageError(c, "nothing to watch")
			}
			if c.Duration("interval") <= 0 {
				return usageError(c, "--interval must be positive")
			}
			cl, err := nodeClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			w := &watcher{cl: cl, out: &lockedWriter{w: c.App.Writer}, errOut: &lockedWriter{w: c.App.ErrWriter}}
			return w.run(c.Context, c.Args().Slice(), c.Duration("interval"))
		},
	}
}

// watcher is one `wasmhot watch`.
type watcher struct {
	cl          *control.Client
	out, errOut io.Writer
}

func (w *watcher) run(ctx context.Context, paths []string, interval time.Duration) error {
	p := watch.New(paths, nil)
	initial := p.Prime()
	mods, err := w.cl.Modules(ctx)
	if err != nil {
		return fail("watch", err)
	}
	running := map[string]string{}
	for _, m := range mods {
		if m.Current != nil {
			running[m.Name] = m.Current.SHA256
		}
	}
	var todo []watch.Change
	for _, ch := range initial {
		if running[ch.Name] != ch.SHA256 {
			todo = append(todo, ch)
		}
	}
	w.push(ctx, todo)
	fmt.Fprintf(w.errOut, "wasmhot: watching %s (every %v); Ctrl-C to stop\n", strings.Join(paths, ", "), interval)
	p.Run(ctx, interval, func(cs []watch.Change) { w.push(ctx, cs) })
	return nil
}

// push loads the changed files into the node, with purge, atomically.
func (w *watcher) push(ctx context.Context, cs []watch.Change) {
	req := control.LoadRequest{Purge: true}
	for _, ch := range cs {
		if err := modules.CheckName(ch.Name); err != nil {
			fmt.Fprintf(w.errOut, "wasmhot: %s: not a module name, ignored: %v\n", ch.Path, err)
			continue
		}
		req.Modules = append(req.Modules, control.ModuleSource{Name: ch.Name, Wasm: ch.Wasm})
	}
	if len(req.Modules) == 0 {
		return
	}
	res, err := w.cl.Load(ctx, req)
	if err != nil {
		if ctx.Err() == nil {
			names := make([]string, len(req.Modules))
			for i, m := range req.Modules {
				names[i] = m.Name
			}
			fmt.Fprintf(w.errOut, "wasmhot: %s\n", oneLine(fail("load "+strings.Join(names, ", "), err).Error()))
		}
		return
	}
	for _, m := range res.Modules {
		fmt.Fprintln(w.out, describeLoad(m))
	}
	if res.Killed > 0 {
		fmt.Fprintf(w.out, "purge killed %d process(es)\n", res.Killed)
	}
}
