package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/host"
)

// hostFlags are the flags of the commands that run a node in this process
// (run, serve), then extra.
func hostFlags(extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{
		&cli.StringSliceFlag{
			Name:  "code-path",
			Usage: "look modules up as NAME.wasm in `DIR` when first used and not loaded (repeatable, searched in order)",
		},
		&cli.StringFlag{
			Name:  "mode",
			Value: "interactive",
			Usage: "interactive: load unknown modules from the code path on first use; embedded: only modules loaded explicitly exist",
		},
		&cli.StringFlag{
			Name:  "exec",
			Value: "sandboxed",
			Usage: "sandboxed: purge and kill stop any guest, even one spinning in Wasm; trusted: faster, guests stop only at host calls",
		},
		&cli.StringSliceFlag{
			Name:  "wasi",
			Usage: "grant WASI (stdout/stderr into the log, clocks, random; nothing else) to module `NAME`, * for all; Go-built guests need it (repeatable)",
		},
		&cli.UintFlag{Name: "memory-pages", Value: host.DefaultMemoryLimitPages, Usage: "linear memory per instance, in 64 KiB pages"},
		&cli.IntFlag{Name: "max-processes", Value: host.DefaultMaxProcesses, Usage: "live processes"},
		&cli.IntFlag{Name: "mailbox-limit", Value: host.DefaultMailboxLimit, Usage: "messages queued per process"},
		&cli.IntFlag{Name: "mailbox-bytes", Value: host.DefaultMailboxBytes, Usage: "bytes of messages queued per process"},
		&cli.StringFlag{
			Name:  "memory-budget",
			Value: "auto",
			Usage: "memory the node holds for guests (linear memories, messages, states, processes, compiled code), e.g. `512MiB`, 2GiB; auto: 3/4 of the machine's or cgroup's memory; 0: no bound. Also sets the Go runtime's soft memory limit unless GOMEMLIMIT is set",
		},
		&cli.StringFlag{Name: "log-rate", Value: "4MiB", Usage: "guest log lines the node takes, in bytes a second (e.g. `4MiB`; a second's worth in a burst); lines past it are dropped and counted; 0: no bound"},
		&cli.IntFlag{Name: "max-module-size", Value: host.DefaultMaxModuleSize, Usage: "bytes per module"},
		&cli.IntFlag{Name: "max-modules", Value: host.DefaultMaxModules, Usage: "loaded modules"},
		&cli.DurationFlag{Name: "call-timeout", Usage: "bound on each call made through the node (0: none; stops spinning guests only with --exec sandboxed)"},
		&cli.DurationFlag{Name: "start-timeout", Value: host.DefaultStartTimeout, Usage: "bound on a module's start function (and _initialize) when it loads (--exec sandboxed only)"},
		&cli.Int64Flag{Name: "fuel", Usage: "fuel (Wasm instructions) a call may use, and a process between two receives (0: no bound; --exec sandboxed only)"},
	}, extra...)
}

// hostConfig builds the host configuration the flags ask for. A bad flag
// value is a usage error.
func hostConfig(c *cli.Context) (host.Config, error) {
	bad := func(format string, args ...any) (host.Config, error) {
		return host.Config{}, usageError(c, fmt.Sprintf(format, args...))
	}
	cfg := host.NewConfig().WithCodePath(c.StringSlice("code-path")...)
	switch m := c.String("mode"); m {
	case "interactive":
		cfg = cfg.WithInteractive(true)
	case "embedded":
		cfg = cfg.WithInteractive(false)
	default:
		return bad("--mode %q: want interactive or embedded", m)
	}
	switch e := c.String("exec"); e {
	case "sandboxed":
		cfg = cfg.WithMode(host.Sandboxed)
	case "trusted":
		cfg = cfg.WithMode(host.Trusted)
	default:
		return bad("--exec %q: want sandboxed or trusted", e)
	}
	if w := c.StringSlice("wasi"); len(w) > 0 {
		cfg = cfg.WithWASI(w...)
	}
	// The host checks the values (Config.Validate); a page count that
	// does not fit 32 bits stays out of range rather than wrapping.
	cfg = cfg.WithMemoryLimitPages(uint32(min(c.Uint("memory-pages"), math.MaxUint32))).
		WithMaxProcesses(c.Int("max-processes")).
		WithMailboxLimit(c.Int("mailbox-limit")).
		WithMailboxBytes(c.Int("mailbox-bytes")).
		WithMaxModuleSize(c.Int("max-module-size")).
		WithMaxModules(c.Int("max-modules")).
		WithCallTimeout(c.Duration("call-timeout")).
		WithStartTimeout(c.Duration("start-timeout")).
		WithFuel(c.Int64("fuel"))
	if s := c.String("memory-budget"); s != "auto" {
		n, err := parseBytes(s)
		if err != nil {
			return bad("--memory-budget %q: %v", s, err)
		}
		cfg = cfg.WithMemoryBudget(n)
	}
	n, err := parseBytes(c.String("log-rate"))
	if err != nil || n > math.MaxInt32 {
		return bad("--log-rate %q: want a rate of at most 2GiB (a second), e.g. 4MiB", c.String("log-rate"))
	}
	cfg = cfg.WithLogRate(int(n))
	if err := cfg.Validate(); err != nil {
		return bad("%s", strings.TrimPrefix(err.Error(), "host: "))
	}
	setMemoryLimit(cfg.MemoryBudget())
	return cfg, nil
}

// setMemoryLimit makes the Go runtime collect garbage harder as the
// process nears its memory budget (the budget plus an eighth, for the
// node's own heap), so that freed guest memory is returned before the
// process grows past it. GOMEMLIMIT, when set, wins.
func setMemoryLimit(budget int64) {
	if budget <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(budget + budget/8)
}

// parseBytes reads a size: a number of bytes, or one with a unit (KiB,
// MiB, GiB, TiB, or K, M, G, T, all powers of 1024; KB, MB, GB, TB,
// powers of 1000).
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
		{"B", 1},
	}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("want a size such as 512MiB or 2GiB (0: no bound)")
	}
	if n > math.MaxInt64/mult {
		return 0, errors.New("too large")
	}
	return n * mult, nil
}
