// Command wasmhot is the command line of wasmhot, Erlang/OTP-style hot code
// loading for WebAssembly guests embedded in Go.
//
//	wasmhot demo        narrate hot code loading with the embedded example guests
//	wasmhot run         run modules in this process until their processes end
//	wasmhot serve       run a node with a control API on a Unix socket (or TCP)
//	wasmhot load        load modules into a node (atomically)
//	wasmhot soft-purge  code:soft_purge/1 on a node
//	wasmhot purge       code:purge/1 on a node
//	wasmhot delete      code:delete/1 on a node
//	wasmhot modules     list a node's modules and versions
//	wasmhot spawn       start a process on a node
//	wasmhot send        send a process a message
//	wasmhot procs       list a node's processes
//	wasmhot check       erlang:check_process_code/2 on a node
//	wasmhot call        call a function with numbers on a node
//	wasmhot logs        print (and follow) a node's guest log lines
//	wasmhot watch       reload changed .wasm files into a node
//
// Client commands find the node with --node (or $WASMHOT_NODE): a Unix
// socket path, by default $XDG_RUNTIME_DIR/wasmhot.sock or ./wasmhot.sock,
// or a loopback HOST:PORT with --token-file. Flags may follow the
// positional arguments; "--" ends the flags.
package main

import (
	"context"
	"errors"
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
// the process exit code: 0 on success, else the code of a cli.ExitCoder
// error or 1 for any other error, which it prints to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	if err := app.RunContext(ctx, reorderArgs(app, args)); err != nil {
		code := 1
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
		if msg := err.Error(); msg != "" {
			fmt.Fprintf(stderr, "wasmhot: %s\n", msg)
		}
		return code
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
		// --code-path a,b is one directory named "a,b"; repeat the flag.
		DisableSliceFlagSeparator: true,
		Commands: []*cli.Command{
			demoCommand(),
			runCommand(),
			serveCommand(),
			loadCommand(),
			softPurgeCommand(),
			purgeCommand(),
			deleteCommand(),
			modulesCommand(),
			spawnCommand(),
			sendCommand(),
			procsCommand(),
			checkCommand(),
			callCommand(),
			logsCommand(),
			watchCommand(),
			benchCommand(),
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
