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
//	wasmhot rollback    make a module's old version current again (on a node or its fleet)
//	wasmhot cluster     the fleet a node is in: cluster status
//	wasmhot modules     list a node's modules and versions
//	wasmhot spawn       start a process on a node
//	wasmhot send        send a process a message
//	wasmhot kill        end a process (reason killed)
//	wasmhot procs       list a node's processes
//	wasmhot check       erlang:check_process_code/2 on a node
//	wasmhot call        call a function with numbers, or bytes, on a node
//	wasmhot logs        print (and follow) a node's guest log lines
//	wasmhot watch       reload changed .wasm files into a node (and rebuild them)
//	wasmhot inspect     tell what a .wasm file imports and exports, and whether it loads
//	wasmhot bench       measure each path against raw wazero
//	wasmhot version     print the versions of wasmhot, Go and wazero
//
// Client commands find the node with --node (or $WASMHOT_NODE): a Unix
// socket path, by default $XDG_RUNTIME_DIR/wasmhot.sock or ./wasmhot.sock,
// or a loopback HOST:PORT with --token-file. They wait up to --wait (5s)
// for a node that is starting. A process is named by its pid or a unique
// prefix of it (at least 4 hex digits). Flags may follow the positional
// arguments; "--" ends the flags. With --cluster, load, rollback, purge,
// soft-purge and delete act on every node of the node's fleet (a node
// started with serve --cluster or --nats-embedded).
//
// Exit status: 0 success, 1 failure, 2 usage error. Errors are one line on
// stderr, "wasmhot: WHAT: CAUSE" (errors.go).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
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
// the process exit code: 0 on success, 2 for a usage error, the code of
// any other cli.ExitCoder error, else 1. It prints an error as one line on
// stderr: "wasmhot: WHAT: CAUSE" (see errors.go).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	args, err := reorderArgs(app, args)
	if err == nil {
		err = app.RunContext(ctx, args)
	}
	if err == nil {
		return 0
	}
	code := exitFailure
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	// "wasmhot help nope": urfave/cli says so with exit code 3.
	if topic, ok := strings.CutPrefix(err.Error(), "No help topic for "); ok && code == 3 {
		err, code = &usageErr{fmt.Sprintf("help: unknown command %s (see wasmhot --help)", topic)}, exitUsage
	}
	if msg := oneLine(err.Error()); msg != "" {
		fmt.Fprintf(stderr, "wasmhot: %s\n", msg)
	}
	return code
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "wasmhot",
		Usage:     "Erlang/OTP-style hot code loading for WebAssembly guests",
		UsageText: "wasmhot [global options] command [command options]",
		Description: "Exit status: 0 success, 1 failure, 2 usage error. Errors are one line on\n" +
			"stderr: \"wasmhot: WHAT: CAUSE\". `wasmhot COMMAND --help` explains a command.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot serve --socket /tmp/n.sock &\n" +
			"   wasmhot load --node /tmp/n.sock a.wasm",
		Version:   readVersions().wasmhot,
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
			rollbackCommand(),
			modulesCommand(),
			spawnCommand(),
			sendCommand(),
			killCommand(),
			suspendCommand(),
			changeCodeCommand(),
			resumeCommand(),
			procsCommand(),
			checkCommand(),
			callCommand(),
			logsCommand(),
			watchCommand(),
			inspectCommand(),
			vsnCommand(),
			benchCommand(),
			clusterCommand(),
			versionCommand(),
		},
		// An unknown command is an error, not a help page.
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return &usageErr{fmt.Sprintf("unknown command %q (see wasmhot --help)", c.Args().First())}
			}
			return cli.ShowAppHelp(c)
		},
		OnUsageError: flagUsageError,
		// run reports errors and chooses the exit code; cli must not call
		// os.Exit itself.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = flagUsageError
		for _, sub := range cmd.Subcommands {
			sub.OnUsageError = flagUsageError
		}
		if action := cmd.Action; action != nil {
			cmd.Action = func(c *cli.Context) error {
				if err := action(c); err != nil {
					return withCommand(c.Command.Name, err)
				}
				return nil
			}
		}
		if example, ok := defaultExamples[cmd.Name]; ok && !hasExample(cmd) {
			cmd.Description = strings.TrimSpace(cmd.Description + "\n\nExample:\n   " + example)
		}
	}
	return app
}

// defaultExamples are the examples of the commands defined elsewhere whose
// help does not have one yet.
var defaultExamples = map[string]string{
	"bench": "wasmhot bench --quick --only localcall",
}

// hasExample reports whether a command's help shows an example.
func hasExample(cmd *cli.Command) bool {
	return strings.Contains(cmd.Description, "Example:") || strings.Contains(cmd.UsageText, "Example:")
}
