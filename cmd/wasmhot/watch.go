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
			"--build CMD runs CMD in a shell at start and whenever a source changes,\n" +
			"before the files are looked at. The sources are what --build-watch names\n" +
			"(repeatable; by default each watched directory, or the directory of each\n" +
			"watched file): a directory counts for its source files, recursively\n" +
			"(.go, go.mod, .c, .h, .wat, .rs, .zig, Makefile...), a file or a glob\n" +
			"for what it matches; hidden files, editor leftovers and the watched .wasm\n" +
			"files never count. A failed build prints its output on stderr, and what\n" +
			"it wrote is not loaded: the node keeps its code.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot watch --interval 500ms ./build\n" +
			"   wasmhot watch --build 'make guests' --build-watch src ./build",
		Flags: nodeFlags(append([]cli.Flag{
			&cli.DurationFlag{Name: "interval", Value: watch.DefaultInterval, Usage: "poll every `DURATION`"},
		}, buildFlags()...)...),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageError(c, "nothing to watch")
			}
			if c.Duration("interval") <= 0 {
				return usageError(c, "--interval must be positive")
			}
			if c.IsSet("build-watch") && c.String("build") == "" {
				return usageError(c, "--build-watch goes with --build")
			}
			errOut := &lockedWriter{w: c.App.ErrWriter}
			var b *builder
			if cmd := c.String("build"); cmd != "" {
				var err error
				if b, err = newBuilder(cmd, c.StringSlice("build-watch"), c.Args().Slice(), errOut); err != nil {
					return fail("watch", err)
				}
			}
			cl, err := nodeClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			w := &watcher{cl: cl, out: &lockedWriter{w: c.App.Writer}, errOut: errOut, build: b}
			return w.run(c.Context, c.Args().Slice(), c.Duration("interval"))
		},
	}
}

// watcher is one `wasmhot watch`.
type watcher struct {
	cl          *control.Client
	out, errOut io.Writer
	build       *builder // nil: no --build
}

func (w *watcher) run(ctx context.Context, paths []string, interval time.Duration) error {
	built := w.build == nil || w.build.build(ctx)
	p := watch.New(paths, nil)
	initial := p.Prime()
	if !built {
		initial = nil // what a failed build wrote is not loaded
	}
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
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if w.build != nil && w.build.changed() && !w.build.build(ctx) {
			p.Prime() // what a failed build wrote is not loaded
			continue
		}
		if cs := p.Scan(); len(cs) > 0 {
			w.push(ctx, cs)
		}
	}
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
