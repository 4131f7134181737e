// Command wasmhot is the command line of wasmhot, Erlang/OTP-style hot code
// loading for WebAssembly guests embedded in Go.
//
//	wasmhot demo     narrate hot code loading with the embedded example guests
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args (args[0] is the program name) and returns
// the process exit code: 0 on success, 1 on any error, which it prints to
// stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if err := newApp(stdout, stderr).RunContext(ctx, args); err != nil {
		fmt.Fprintf(stderr, "wasmhot: %v\n", err)
		return 1
	}
	return 0
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "wasmhot",
		Usage:     "Erlang/OTP-style hot code loading for WebAssembly guests",
		UsageText: "wasmhot [global options] command [command options]",
		Writer:    stdout,
		ErrWriter: stderr,
		Commands: []*cli.Command{
			demoCommand(),
		},
		// An unknown command is an error, not a help page.
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("unknown command %q (see wasmhot --help)", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		// run reports errors and chooses the exit code; cli must not call
		// os.Exit itself.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}
