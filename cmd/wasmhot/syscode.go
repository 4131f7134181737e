package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
)

// suspend, resume and change-code: Erlang's sys:suspend/1, sys:resume/1
// and sys:change_code/4 for a node's process.

func suspendCommand() *cli.Command {
	return pidCommand("suspend", "suspend a process at its next receive, its messages kept (sys:suspend/1)",
		"Suspends the live process PID (its uuid, or a unique prefix of at least 4\n"+
			"hex digits): at its next receive it stops, taking no message, until\n"+
			"resume; messages sent meanwhile are kept, in order. Then change-code can\n"+
			"move it to its module's current version. Prints the full pid.\n"+
			"\n"+
			"Example:\n"+
			"   wasmhot suspend 8b65b503 && wasmhot load srv.wasm && \\\n"+
			"   wasmhot change-code 8b65b503 && wasmhot resume 8b65b503",
		(*control.Client).Suspend)
}

func resumeCommand() *cli.Command {
	return pidCommand("resume", "let a suspended process receive again (sys:resume/1)",
		"Resumes the process PID: it takes the messages kept while it was\n"+
			"suspended, in order. A process that is not suspended is left alone.\n"+
			"Prints the full pid.\n"+
			"\n"+
			"Example:\n"+
			"   wasmhot resume 8b65b503",
		(*control.Client).Resume)
}

func pidCommand(name, usage, desc string, op func(*control.Client, context.Context, string) (string, error)) *cli.Command {
	return &cli.Command{
		Name:        name,
		Usage:       usage,
		ArgsUsage:   "PID",
		Description: desc,
		Flags:       nodeFlags(),
		Action: func(c *cli.Context) error {
			args, err := exactArgs(c, 1)
			if err != nil {
				return err
			}
			what := name + " " + args[0]
			cl, err := nodeClient(c)
			if err != nil {
				return fail(what, err)
			}
			defer cl.Close()
			pid, err := op(cl, c.Context, args[0])
			if err != nil {
				return fail(what, err)
			}
			fmt.Fprintln(c.App.Writer, pid)
			return nil
		},
	}
}

func changeCodeCommand() *cli.Command {
	return &cli.Command{
		Name:      "change-code",
		Usage:     "move a suspended process to its module's current version (sys:change_code/4)",
		ArgsUsage: "PID",
		Description: "The suspended process PID moves to the current version of its module\n" +
			"at the receive where it stopped: its state carries over, the new\n" +
			"version's code_change runs with the old version's vsn tag and --extra,\n" +
			"and the process goes on, still suspended, in the new code (resume it\n" +
			"then). When code_change refuses (or fails), the process stays in its\n" +
			"old version with its old state, and the command fails with refused and\n" +
			"the reason. A process not suspended is an error (not_suspended), as is\n" +
			"one whose version exports no code_change of ABI v2 (no_code_change).\n" +
			"Prints the pid, the vsn and the vsn tag it runs.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot change-code --extra v2-migrate 8b65b503",
		Flags: nodeFlags(
			&cli.StringFlag{Name: "extra", Usage: "the `TEXT` passed to code_change as Extra"},
			&cli.DurationFlag{Name: "timeout", Value: control.DefaultCallTimeout, Usage: "how long to wait for the process to reach a receive"},
		),
		Action: func(c *cli.Context) error {
			args, err := exactArgs(c, 1)
			if err != nil {
				return err
			}
			what := "change-code " + args[0]
			if d := c.Duration("timeout"); d <= 0 || d > control.MaxCallTimeout {
				return usageError(c, fmt.Sprintf("--timeout %v: want more than 0 and at most %v", d, control.MaxCallTimeout))
			}
			cl, err := nodeClient(c)
			if err != nil {
				return fail(what, err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout")+5*time.Second)
			defer cancel()
			res, err := cl.ChangeCodeWithin(ctx, args[0], []byte(c.String("extra")), c.Duration("timeout"))
			if err != nil {
				return fail(what, err)
			}
			fmt.Fprintf(c.App.Writer, "%s vsn %d (%s)\n", res.PID, res.Vsn, res.VsnTag)
			return nil
		},
	}
}
