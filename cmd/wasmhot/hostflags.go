package main

import (
	"fmt"

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
	}, extra...)
}

// hostConfig builds the host configuration the flags ask for.
func hostConfig(c *cli.Context) (host.Config, error) {
	cfg := host.NewConfig().WithCodePath(c.StringSlice("code-path")...)
	switch m := c.String("mode"); m {
	case "interactive":
		cfg = cfg.WithInteractive(true)
	case "embedded":
		cfg = cfg.WithInteractive(false)
	default:
		return cfg, fmt.Errorf("--mode %q: want interactive or embedded", m)
	}
	switch e := c.String("exec"); e {
	case "sandboxed":
		cfg = cfg.WithMode(host.Sandboxed)
	case "trusted":
		cfg = cfg.WithMode(host.Trusted)
	default:
		return cfg, fmt.Errorf("--exec %q: want sandboxed or trusted", e)
	}
	return cfg, nil
}
