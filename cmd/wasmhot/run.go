package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
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
		Description: "Runs a node in this process. FILE.wasm loads as the module --name, by\n" +
			"default its base name made a module name (lower case, any other\n" +
			"character than a-z, 0-9 and _ becomes _: my-calc.wasm loads as my_calc);\n" +
			"DIR loads every *.wasm in it (not recursively), each named so, all\n" +
			"atomically. Then it spawns the entry process: --entry MOD:FN, by default\n" +
			"MOD:main when exactly one module was loaded (with several, --entry is\n" +
			"required). Guest log lines go to stdout.\n" +
			"\n" +
			"When every process has ended, run exits 0 if the entry process exited\n" +
			"normally, else 1 with its exit reason on stderr. An interrupt (Ctrl-C)\n" +
			"kills the processes and exits 130.\n" +
			"\n" +
			"--watch reloads (purge, then load: c:l/1) every .wasm under FILE/DIR that\n" +
			"changes, and every .wasm on the code path whose module is loaded; files\n" +
			"are polled every 200 ms. When a reload succeeds after the entry process\n" +
			"ended abnormally (a trap, killed by the reload's purge...), the entry\n" +
			"process is started again, in the new code, with --state. With --watch run\n" +
			"goes on after the processes end and exits 0 on Ctrl-C. Reload reports go\n" +
			"to stderr.\n" +
			"\n" +
			"--build CMD runs CMD in a shell before loading, and with --watch again\n" +
			"whenever a source changes (see --build-watch); a failed build prints its\n" +
			"output and the running code stays.\n" +
			"\n" +
			"Compiled code is cached in --cache-dir (default: wasmhot in the user's\n" +
			"cache directory, such as ~/.cache/wasmhot), so running the same module\n" +
			"again does not compile it again; the oldest entries past 1 GiB are\n" +
			"removed at start. --cache-dir '' caches nothing.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot run --watch --entry test:run --state 200 test.wasm\n" +
			"   wasmhot run --watch --wasi hello --entry hello:run \\\n" +
			"       --build 'GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hello.wasm ./hello' hello.wasm",
		Flags: hostFlags(append([]cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "load FILE.wasm as module `NAME`"},
			&cli.StringFlag{Name: "entry", Usage: "spawn `MOD:FN` (an export of type () -> ()) as the entry process"},
			&cli.StringFlag{Name: "state", Usage: "the initial state of the entry process: `TEXT`"},
			&cli.BoolFlag{Name: "watch", Usage: "reload .wasm files that change, until interrupted"},
			&cli.StringFlag{Name: "cache-dir", Usage: "keep compiled code in `DIR` (default: wasmhot in the user's cache directory; '' for none)"},
		}, buildFlags()...)...),
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
			if name := c.String("name"); c.IsSet("name") && !modules.ValidName(name) {
				return usageError(c, "--name "+notModuleName(name))
			}
			if c.IsSet("build-watch") && c.String("build") == "" {
				return usageError(c, "--build-watch goes with --build")
			}
			cacheDir := c.String("cache-dir")
			if !c.IsSet("cache-dir") {
				cacheDir = defaultCacheDir()
			}
			r := &runner{
				path: args[0], name: c.String("name"), entry: c.String("entry"), state: c.String("state"), watching: c.Bool("watch"),
				codePath: c.StringSlice("code-path"), stderr: &lockedWriter{w: c.App.ErrWriter},
				build: c.String("build"), buildWatch: c.StringSlice("build-watch"), cacheDir: cacheDir,
			}
			return fail("run "+args[0], r.run(c.Context, cfg.WithLog(&lockedWriter{w: c.App.Writer})))
		},
	}
}

// runner is one `wasmhot run`.
type runner struct {
	path       string
	name       string // --name
	entry      string
	state      string
	watching   bool
	codePath   []string
	stderr     io.Writer
	build      string
	buildWatch []string
	cacheDir   string
	h          *host.Host

	names map[string]string // module of each explicit file, by path

	mod, fn   string
	mu        sync.Mutex
	pid       host.PID                // the entry process, under mu
	restarted chan (<-chan host.Exit) // a new entry process's monitor
}

func (r *runner) run(ctx context.Context, cfg host.Config) (err error) {
	var b *builder
	if r.build != "" {
		if b, err = newBuilder(r.build, r.buildWatch, []string{r.path}, r.stderr); err != nil {
			return err
		}
		if !b.build(ctx) {
			if ctx.Err() != nil {
				return cli.Exit("interrupted", 130)
			}
			return errors.New("the build failed")
		}
	}
	var p *watch.Poller
	if r.watching {
		p = watch.New([]string{r.path}, r.codePath)
	} else {
		p = watch.New([]string{r.path}, nil)
	}
	fi, err := os.Stat(r.path)
	if err != nil {
		return err
	}
	if r.name != "" && fi.IsDir() {
		return fmt.Errorf("--name names the module of one FILE.wasm, not the modules of a directory")
	}
	srcs, err := r.sources(p.Prime())
	if err != nil {
		return err
	}
	if r.mod, r.fn, err = r.entryPoint(srcs); err != nil {
		return err
	}
	if r.cacheDir != "" {
		pruneCache(r.cacheDir, maxCacheBytes, r.stderr)
		cfg = cfg.WithCompilationCacheDir(r.cacheDir)
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
	exited, err := r.spawnEntry(ctx)
	if err != nil {
		return err
	}
	r.restarted = make(chan (<-chan host.Exit), 1)
	if r.watching {
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.watch(wctx, p, b)
		}()
		defer func() { cancel(); <-done }()
	}
	return r.wait(ctx, r.mod+":"+r.fn, exited)
}

// sources names the files found at start: each explicit file as its
// module, refusing files whose modules would collide.
func (r *runner) sources(found []watch.Change) ([]host.Source, error) {
	r.names = map[string]string{}
	var srcs []host.Source
	byName := map[string]string{}
	for _, ch := range found {
		if !ch.Explicit {
			continue
		}
		name, err := r.moduleOf(ch.Path)
		if err != nil {
			return nil, err
		}
		if other, dup := byName[name]; dup {
			return nil, fmt.Errorf("%s and %s would both load as module %s; rename one", other, ch.Path, name)
		}
		byName[name] = ch.Path
		if base := strings.TrimSuffix(baseName(ch.Path), ".wasm"); base != name && r.name == "" {
			fmt.Fprintf(r.stderr, "wasmhot: %s loads as module %s\n", ch.Path, name)
		}
		srcs = append(srcs, host.Source{Name: name, Wasm: ch.Wasm})
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("%s: no .wasm files", r.path)
	}
	return srcs, nil
}

// moduleOf returns the module an explicit file loads as: --name, else the
// name derived from the file's name (remembered, so reloads agree).
func (r *runner) moduleOf(path string) (string, error) {
	if name, ok := r.names[path]; ok {
		return name, nil
	}
	name := r.name
	if name == "" {
		var err error
		if name, err = deriveModuleName(path); err != nil {
			return "", err
		}
	}
	r.names[path] = name
	return name, nil
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

// spawnEntry starts the entry process with the initial state and returns
// its monitor.
func (r *runner) spawnEntry(ctx context.Context) (<-chan host.Exit, error) {
	pid, err := r.h.Spawn(ctx, r.mod, r.fn, []byte(r.state))
	if err != nil {
		return nil, r.explainEntry(err)
	}
	r.mu.Lock()
	r.pid = pid
	r.mu.Unlock()
	return r.h.Monitor(pid)
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
		case ch := <-r.restarted:
			fate, exited, told = nil, ch, false
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

// watch polls the files (and, with a builder, the sources, building when
// they change) and reloads what changes, until ctx ends.
func (r *runner) watch(ctx context.Context, p *watch.Poller, b *builder) {
	t := time.NewTicker(watch.DefaultInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if b != nil && b.changed() && !b.build(ctx) {
			p.Prime() // what a failed build wrote is not loaded
			continue
		}
		if cs := p.Scan(); len(cs) > 0 {
			r.reload(ctx, cs)
		}
	}
}

// reload loads changed files with purge: files under the run's path
// always, files on the code path only when their module is loaded. After
// a reload, an entry process that ended abnormally starts again.
func (r *runner) reload(ctx context.Context, cs []watch.Change) {
	var srcs []host.Source
	for _, ch := range cs {
		name := ch.Name
		if ch.Explicit {
			var err error
			if name, err = r.moduleOf(ch.Path); err != nil {
				fmt.Fprintf(r.stderr, "wasmhot: %s changed: ignored: %v\n", ch.Path, err)
				continue
			}
		} else {
			if err := modules.CheckName(name); err != nil {
				fmt.Fprintf(r.stderr, "wasmhot: %s changed: not a module name, ignored: %v\n", ch.Path, err)
				continue
			}
			if mi, err := r.h.Which(name); err != nil || mi.Current == nil {
				continue // loaded from the code path on first use, fresh
			}
		}
		srcs = append(srcs, host.Source{Name: name, Wasm: ch.Wasm})
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
	r.restartCrashed(ctx)
}

// restartCrashed starts the entry process again when it ended abnormally:
// the code that made it crash (or that the reload's purge killed it in)
// has just been replaced.
func (r *runner) restartCrashed(ctx context.Context) {
	r.mu.Lock()
	old := r.pid
	r.mu.Unlock()
	pi, err := r.h.Process(old)
	if err != nil || pi.Exit == nil || pi.Exit.Reason == host.Normal {
		return
	}
	exited, err := r.spawnEntry(ctx)
	if err != nil {
		if ctx.Err() == nil {
			fmt.Fprintf(r.stderr, "wasmhot: restart of the entry %s:%s: %v\n", r.mod, r.fn, oneLine(err.Error()))
		}
		return
	}
	r.mu.Lock()
	pid := r.pid
	r.mu.Unlock()
	fmt.Fprintf(r.stderr, "wasmhot: the entry %s:%s had exited (%s); restarted it in the new code as %s\n", r.mod, r.fn, pi.Exit, pid)
	select {
	case <-r.restarted: // an older restart wait has not taken
	default:
	}
	r.restarted <- exited
}
