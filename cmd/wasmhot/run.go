package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/watch"
	"github.com/wasmhot/wasmhot/modules"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "load modules, start a process, print its log lines, exit with its fate",
		ArgsUsage: "FILE.wasm|DIR",
		Description: "Runs a node in this process. FILE.wasm loads as the module named by its\n" +
			"base name; DIR loads every *.wasm in it (not recursively), each named by\n" +
			"its base name, all atomically. Then it spawns the entry process: --entry\n" +
			"MOD:FN, by default MOD:main when exactly one module was loaded (with\n" +
			"several, --entry is required). Guest log lines go to stdout.\n" +
			"\n" +
			"When every process has ended, run exits 0 if the entry process exited\n" +
			"normally, else 1 with its exit reason on stderr. An interrupt (Ctrl-C)\n" +
			"kills the processes and exits 130.\n" +
			"\n" +
			"--watch reloads (purge, then load: c:l/1) every .wasm under FILE/DIR that\n" +
			"changes, and every .wasm on the code path whose module is loaded; files\n" +
			"are polled every 200 ms. With --watch run goes on after the processes\n" +
			"end and exits 0 on Ctrl-C. Reload reports go to stderr.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot run --watch --entry test:run --state 200 test.wasm",
		Flags: hostFlags(
			&cli.StringFlag{Name: "entry", Usage: "spawn `MOD:FN` (an export of type () -> ()) as the entry process"},
			&cli.StringFlag{Name: "state", Usage: "the initial state of the entry process: `TEXT`"},
			&cli.BoolFlag{Name: "watch", Usage: "reload .wasm files that change, until interrupted"},
		),
		Action: func(c *cli.Context) error {
			args, err := exactArgs(c, 1)
			if err != nil {
				return err
			}
			cfg, err := hostConfig(c)
			if err != nil {
				return err
			}
			if e := c.String("entry"); e != "" {
				if err := checkEntry(e); err != nil {
					return usageError(c, err.Error())
				}
			}
			r := &runner{
				path: args[0], entry: c.String("entry"), state: c.String("state"), watching: c.Bool("watch"),
				codePath: c.StringSlice("code-path"), stderr: &lockedWriter{w: c.App.ErrWriter},
			}
			return fail("run "+args[0], r.run(c.Context, cfg.WithLog(&lockedWriter{w: c.App.Writer})))
		},
	}
}

// runner is one `wasmhot run`.
type runner struct {
	path     string
	entry    string
	state    string
	watching bool
	codePath []string
	stderr   io.Writer
	h        *host.Host
}

func (r *runner) run(ctx context.Context, cfg host.Config) (err error) {
	var p *watch.Poller
	if r.watching {
		p = watch.New([]string{r.path}, r.codePath)
	} else {
		p = watch.New([]string{r.path}, nil)
	}
	if _, err := os.Stat(r.path); err != nil {
		return err
	}
	var srcs []host.Source
	for _, ch := range p.Prime() {
		if !ch.Explicit {
			continue
		}
		if err := modules.CheckName(ch.Name); err != nil {
			return &explained{fmt.Sprintf("%s: %s; rename the file", ch.Path, notModuleName(ch.Name)), err}
		}
		srcs = append(srcs, host.Source{Name: ch.Name, Wasm: ch.Wasm})
	}
	if len(srcs) == 0 {
		return fmt.Errorf("%s: no .wasm files", r.path)
	}
	mod, fn, err := r.entryPoint(srcs)
	if err != nil {
		return err
	}
	if r.h, err = host.New(ctx, cfg); err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if cerr := r.h.Close(cctx); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	if err := r.h.AtomicLoad(ctx, srcs...); err != nil {
		return err
	}
	pid, err := r.h.Spawn(ctx, mod, fn, []byte(r.state))
	if err != nil {
		return err
	}
	exited, err := r.h.Monitor(pid)
	if err != nil {
		return err
	}
	if r.watching {
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			p.Run(wctx, 0, func(cs []watch.Change) { r.reload(wctx, cs) })
		}()
		defer func() { cancel(); <-done }()
	}
	return r.wait(ctx, mod+":"+fn, exited)
}

// entryPoint returns the module and function of the entry process.
func (r *runner) entryPoint(srcs []host.Source) (string, string, error) {
	if r.entry == "" {
		if len(srcs) != 1 {
			return "", "", fmt.Errorf("%d modules loaded: say which function starts with --entry MOD:FN", len(srcs))
		}
		return srcs[0].Name, "main", nil
	}
	if err := checkEntry(r.entry); err != nil {
		return "", "", err
	}
	mod, fn, _ := strings.Cut(r.entry, ":")
	return mod, fn, nil
}

// checkEntry checks the value of --entry: MOD:FN.
func checkEntry(entry string) error {
	mod, fn, ok := strings.Cut(entry, ":")
	if !ok || fn == "" {
		return fmt.Errorf("--entry %q: want MOD:FN", entry)
	}
	if err := modules.CheckName(mod); err != nil {
		return fmt.Errorf("--entry %q: %w", entry, err)
	}
	return nil
}

// wait waits until every process has ended (or, with --watch, until ctx
// ends) and returns the entry process's fate.
func (r *runner) wait(ctx context.Context, entry string, exited <-chan host.Exit) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var fate *host.Exit
	told := false
	for {
		select {
		case e := <-exited:
			fate, exited = &e, nil
		case <-tick.C:
		case <-ctx.Done():
			if r.watching {
				return nil
			}
			return cli.Exit("interrupted", 130)
		}
		if fate == nil || !r.allEnded() {
			continue
		}
		if !r.watching {
			if fate.Reason == host.Normal {
				return nil
			}
			return cli.Exit(fmt.Sprintf("entry %s exited: %s", entry, fate), 1)
		}
		if !told {
			fmt.Fprintf(r.stderr, "wasmhot: every process has ended (entry %s: %s); still watching, Ctrl-C to stop\n", entry, fate)
			told = true
		}
	}
}

func (r *runner) allEnded() bool {
	for _, p := range r.h.Processes() {
		if p.Status != host.Exited {
			return false
		}
	}
	return true
}

// reload loads changed files with purge: files under the run's path
// always, files on the code path only when their module is loaded.
func (r *runner) reload(ctx context.Context, cs []watch.Change) {
	var srcs []host.Source
	for _, ch := range cs {
		if err := modules.CheckName(ch.Name); err != nil {
			fmt.Fprintf(r.stderr, "wasmhot: %s changed: not a module name, ignored: %v\n", ch.Path, err)
			continue
		}
		if !ch.Explicit {
			if mi, err := r.h.Which(ch.Name); err != nil || mi.Current == nil {
				continue // loaded from the code path on first use, fresh
			}
		}
		srcs = append(srcs, host.Source{Name: ch.Name, Wasm: ch.Wasm})
	}
	if len(srcs) == 0 {
		return
	}
	killed, err := control.Load(ctx, r.h, srcs, true)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			fmt.Fprintf(r.stderr, "wasmhot: reload: %v\n", err)
		}
		return
	}
	for _, s := range srcs {
		if mi, err := r.h.Which(s.Name); err == nil && mi.Current != nil {
			fmt.Fprintf(r.stderr, "wasmhot: reloaded %s vsn %d (sha256 %.12s)\n", s.Name, mi.Current.Vsn, mi.Current.SHA256)
		}
	}
	if killed > 0 {
		fmt.Fprintf(r.stderr, "wasmhot: the purge killed %d process(es) lingering in old code\n", killed)
	}
}
