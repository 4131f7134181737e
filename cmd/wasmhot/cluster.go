package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/cluster"
	"github.com/wasmhot/wasmhot/control"
)

// clusterFlag is the --cluster flag of a client command: act on every
// node of the fleet the node is in.
func clusterFlag(what string) cli.Flag {
	return &cli.BoolFlag{Name: "cluster", Usage: what + " on every node of the fleet the node is in (wasmhot serve --cluster), all or none"}
}

// orCluster is the action of a command on one module that acts on the
// node with local, and with --cluster on its fleet with fleet, given a
// client and "cluster COMMAND MODULE" as what it does.
func orCluster(local cli.ActionFunc, fleet func(c *cli.Context, cl *control.Client, what, module string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if !c.Bool("cluster") {
			return local(c)
		}
		args, err := exactArgs(c, 1)
		if err != nil {
			return err
		}
		what := "cluster " + c.Command.Name + " " + args[0]
		cl, err := nodeClient(c)
		if err != nil {
			return fail(what, err)
		}
		defer cl.Close()
		return fleet(c, cl, what, args[0])
	}
}

func rollbackCommand() *cli.Command {
	return &cli.Command{
		Name:      "rollback",
		Usage:     "make a module's old version current again, on a node or across its fleet",
		ArgsUsage: "MODULE...",
		Description: "Without --cluster, on the node: the module's old version becomes current\n" +
			"again and its current version old, in one switch, without a compile (the\n" +
			"versions keep their vsns); processes running the version set aside linger\n" +
			"in it, as after a load. A module without old code (purged) refuses (no\n" +
			"old), so does a sticky one. Erlang has no such call: it is what loading\n" +
			"the previous .beam again would do, without the purge.\n" +
			"\n" +
			"With --cluster, across the fleet, as one rollout (all nodes or none):\n" +
			"each module goes back to the version the fleet ran before its current\n" +
			"one (from the history of the fleet's desired versions); a node that still\n" +
			"has it as old code swaps it back, the others load it again. Prints one\n" +
			"line per node (switched, refused and why, or no answer) and the phases'\n" +
			"times; exits 0 only when every live node switched.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot rollback --cluster counter",
		Flags: nodeFlags(clusterFlag("roll back")),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageError(c, "no module")
			}
			if !c.Bool("cluster") && c.NArg() != 1 {
				return usageError(c, fmt.Sprintf("want 1 module without --cluster, got %d", c.NArg()))
			}
			names := c.Args().Slice() // the node refuses a bad name (bad_name)
			what := "rollback " + strings.Join(names, ", ")
			if c.Bool("cluster") {
				what = "cluster " + what
			}
			cl, err := nodeClient(c)
			if err != nil {
				return fail(what, err)
			}
			defer cl.Close()
			if c.Bool("cluster") {
				rep, err := cl.ClusterRollback(c.Context, names...)
				return rolloutDone(c, what, rep, err)
			}
			m, err := cl.Rollback(c.Context, names[0])
			if err != nil {
				return fail(what, err)
			}
			fmt.Fprintln(c.App.Writer, describeRollback(m))
			return nil
		},
	}
}

// describeRollback says what a local rollback made current.
func describeRollback(m control.Module) string {
	if m.Current == nil {
		return fmt.Sprintf("%s: no current code", m.Name)
	}
	s := fmt.Sprintf("rolled back %s to vsn %d (%s, sha256 %.12s)", m.Name, m.Current.Vsn, m.Current.VsnTag, m.Current.SHA256)
	if m.Old != nil {
		s += fmt.Sprintf("; old vsn %d, %d lingering", m.Old.Vsn, m.Old.Lingering)
	}
	return s
}

func clusterCommand() *cli.Command {
	return &cli.Command{
		Name:  "cluster",
		Usage: "the fleet a node is in (wasmhot serve --cluster)",
		Description: "The fleet's code changes are the client commands' --cluster (load,\n" +
			"rollback, purge, soft-purge, delete); `cluster status` shows where the\n" +
			"fleet stands.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot cluster status",
		Subcommands: []*cli.Command{clusterStatusCommand()},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError(c, fmt.Sprintf("unknown subcommand %q (want status)", c.Args().First()))
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
}

func clusterStatusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show each node of the fleet, its versions, and the fleet's desired versions",
		Description: "One line per live node: its name, ready (it loaded the fleet's versions)\n" +
			"or not and why, how long ago its last heartbeat was, in sync or which\n" +
			"modules differ from the desired versions, and each module's current\n" +
			"version (vsn, vsn tag, sha256's first 12 hex digits) and old one. Then\n" +
			"the desired versions, and the rollout in flight if any. As\n" +
			"rpc:multicall(code, all_loaded, []) across the nodes. --json prints\n" +
			"everything (cluster.Status).\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot cluster status --json",
		Flags: nodeFlags(&cli.BoolFlag{Name: "json", Usage: "print JSON"}),
		Action: func(c *cli.Context) error {
			if _, err := exactArgs(c, 0); err != nil {
				return err
			}
			cl, err := nodeClient(c)
			if err != nil {
				return fail("cluster status", err)
			}
			defer cl.Close()
			st, err := cl.ClusterStatus(c.Context)
			if err != nil {
				return fail("cluster status", err)
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, st)
			}
			printStatus(c.App.Writer, st, time.Now())
			return nil
		},
	}
}

// printStatus writes the fleet's state for people.
func printStatus(w io.Writer, st *cluster.Status, now time.Time) {
	if len(st.Nodes) == 0 {
		fmt.Fprintln(w, "no live node")
	}
	for _, ns := range st.Nodes {
		state := "ready"
		if !ns.Ready {
			state = "live, not ready"
			if ns.Error != "" {
				state += " (" + ns.Error + ")"
			}
		}
		sync := "in sync"
		if !ns.InSync {
			sync = "differs: " + strings.Join(ns.Differs, ", ")
		}
		var mods []string
		for _, m := range ns.Modules {
			mods = append(mods, describeModuleState(m))
		}
		if len(mods) == 0 {
			mods = []string{"no modules"}
		}
		fmt.Fprintf(w, "%s: %s, seen %v ago, %s; %s\n", ns.Name, state, ns.Age.Round(time.Millisecond), sync, strings.Join(mods, "; "))
	}
	d := st.Desired
	if d == nil || d.Rollout == "" {
		fmt.Fprintln(w, "desired: none (no rollout yet)")
	} else {
		fmt.Fprintf(w, "desired (rollout %s, %s by %s, %s ago):\n", d.Rollout, d.Op, d.By, now.Sub(d.At).Round(time.Second))
		names := make([]string, 0, len(d.Modules))
		for name := range d.Modules {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			rec := d.Modules[name]
			if rec.Deleted {
				fmt.Fprintf(w, "  %s: deleted\n", name)
				continue
			}
			fmt.Fprintf(w, "  %s: %s, %d bytes\n", name, tagAndSum(rec.VsnTag, rec.SHA256), rec.Size)
		}
	}
	if l := st.Rollout; l != nil {
		fmt.Fprintf(w, "rollout in flight: %s, %s of %s by %s, started %s ago\n", l.Rollout, l.Op, strings.Join(l.Modules, ", "), l.By, now.Sub(l.Started).Round(time.Millisecond))
	}
}

// describeModuleState is one module of a node's heartbeat.
func describeModuleState(m cluster.ModuleState) string {
	s := m.Name + " "
	if v := m.Current; v != nil {
		s += fmt.Sprintf("vsn %d (%s)", v.Vsn, tagAndSum(v.VsnTag, v.SHA256))
	} else {
		s += "deleted"
	}
	if v := m.Old; v != nil {
		s += fmt.Sprintf(", old vsn %d", v.Vsn)
	}
	return s
}

// tagAndSum is a version's vsn tag and the first 12 hex digits of its
// sha256; the tag alone when it is the default one (sha256:...).
func tagAndSum(tag, sum string) string {
	if strings.HasPrefix(tag, "sha256:") && strings.HasPrefix(sum, strings.TrimPrefix(tag, "sha256:")) {
		return tag
	}
	return fmt.Sprintf("%s, sha256 %.12s", tag, sum)
}

// rolloutDone prints a fleet rollout's report, one line per node and the
// phases' times, and returns the rollout's failure as the command's.
func rolloutDone(c *cli.Context, what string, rep *cluster.Report, err error) error {
	if rep != nil {
		printReport(c.App.Writer, rep)
	}
	return fail(what, clusterError(err))
}

// printReport writes a rollout's report for people.
func printReport(w io.Writer, rep *cluster.Report) {
	for _, r := range rep.Nodes {
		fmt.Fprintf(w, "%s: %s\n", r.Node, nodeOutcome(rep, r))
	}
	var mods []string
	for _, m := range rep.Modules {
		if m.Deleted {
			mods = append(mods, m.Name)
		} else {
			mods = append(mods, fmt.Sprintf("%s (%s)", m.Name, tagAndSum(m.VsnTag, m.SHA256)))
		}
	}
	fmt.Fprintf(w, "rollout %s, %s of %s: ", rep.Rollout, rep.Op, strings.Join(mods, ", "))
	if rep.Op != cluster.OpDelete {
		fmt.Fprintf(w, "prepare %v, ", rep.Prepare.Round(time.Microsecond))
	}
	fmt.Fprintf(w, "finish %v, spread %v", rep.Finish.Round(time.Microsecond), rep.Spread.Round(time.Microsecond))
	if !rep.Committed {
		fmt.Fprint(w, "; not committed, nothing changed")
	}
	fmt.Fprintln(w)
}

// nodeOutcome says what a node did in a rollout.
func nodeOutcome(rep *cluster.Report, r cluster.NodeResult) string {
	switch {
	case r.Switched() && rep.Op == cluster.OpDelete:
		return "deleted"
	case r.Switched():
		return "switched"
	case r.Finish != nil:
		return "did not switch: " + noAnswer(r.Finish.Err)
	case !r.Prepare.OK():
		if strings.HasPrefix(r.Prepare.Err, "no answer") {
			return r.Prepare.Err
		}
		return "refused: " + cleanDetail(r.Prepare.Err)
	case !rep.Committed:
		return "prepared, then aborted"
	}
	return "no answer"
}

// noAnswer is a node's error, as is when it did not answer.
func noAnswer(msg string) string {
	if strings.HasPrefix(msg, "no answer") {
		return msg
	}
	return cleanDetail(msg)
}

// everywhereDone prints each node's answer to a fleet purge or soft purge,
// as the booleans Erlang prints (purge: true when a process was killed;
// soft purge: true when the old code was freed or there was none), and
// returns the failure, if any, as the command's.
func everywhereDone(c *cli.Context, what string, answers []cluster.NodeAnswer, err error, purge, verbose bool) error {
	for _, a := range answers {
		switch {
		case !a.OK():
			fmt.Fprintf(c.App.Writer, "%s: %s\n", a.Node, noAnswer(a.Err))
		case purge && verbose:
			fmt.Fprintf(c.App.Writer, "%s: %v (killed %d process(es))\n", a.Node, a.Killed > 0, a.Killed)
		case purge:
			fmt.Fprintf(c.App.Writer, "%s: %v\n", a.Node, a.Killed > 0)
		default:
			fmt.Fprintf(c.App.Writer, "%s: %v\n", a.Node, a.Freed)
		}
	}
	return fail(what, clusterError(err))
}

// clusterError words the failure of a fleet operation for people: the
// sentinel's text, which the code says already, goes.
func clusterError(err error) error {
	var ce *control.Error
	if err == nil || !errors.As(err, &ce) {
		return err
	}
	msg := strings.TrimPrefix(ce.Message, "cluster: ")
	for _, s := range []error{cluster.ErrAborted, cluster.ErrPartial, cluster.ErrBusy, cluster.ErrNoNodes} {
		msg = strings.TrimPrefix(msg, strings.TrimPrefix(s.Error(), "cluster: ")+": ")
	}
	if msg == strings.TrimPrefix(cluster.ErrNoNodes.Error(), "cluster: ") {
		msg = "no live, ready node in the fleet"
	}
	words := strings.ReplaceAll(ce.Code, "_", " ")
	return &explained{msg: words + ": " + cleanDetail(msg), err: ce}
}
