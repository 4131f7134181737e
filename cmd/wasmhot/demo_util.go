package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/host"
)

// demo is the state of one `wasmhot demo` run: the host, the output shared
// by narration and guest log lines, and the processes by name.
type demo struct {
	ctx     context.Context
	h       *host.Host
	out     io.Writer
	log     *guestLog
	timeout time.Duration
	pids    map[string]host.PID
}

// say prints one line of narration.
func (d *demo) say(format string, args ...any) {
	_, _ = fmt.Fprintf(d.out, "    "+format+"\n", args...)
}

// who names a process in narration.
func (d *demo) who(pid host.PID) string { return d.log.who(pid.String()) }

// within runs wait with a context bounded by the demo's timeout, and turns
// running out of time into an error that says what was awaited.
func (d *demo) within(what string, wait func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(d.ctx, d.timeout)
	defer cancel()
	err := wait(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("gave up after %v waiting for %s", d.timeout, what)
	}
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}

// load loads an embedded guest as module name and tells what is loaded.
func (d *demo) load(name, file string) error {
	vi, err := d.h.Load(d.ctx, name, guestexamples.Wasm(file))
	if err != nil {
		return fmt.Errorf("load %s as %s: %w", file, name, err)
	}
	d.say("load %s as %q: vsn %d is current (sha256 %.12s)%s", file, name, vi.Vsn, vi.SHA256, d.oldNote(name))
	return nil
}

// oldNote says whether name has old code, and who lingers in it.
func (d *demo) oldNote(name string) string {
	mi, err := d.h.Which(name)
	if err != nil || mi.Old == nil {
		return ""
	}
	return fmt.Sprintf(", vsn %d is old (%d lingering)", mi.Old.Vsn, mi.Old.Lingering)
}

// spawn starts module:fn with state and names the process.
func (d *demo) spawn(name, module, fn, state, about string) (host.PID, error) {
	pid, err := d.h.Spawn(d.ctx, module, fn, []byte(state))
	if err != nil {
		return pid, fmt.Errorf("spawn %s:%s: %w", module, fn, err)
	}
	d.pids[name] = pid
	st := ""
	if state != "" {
		st = fmt.Sprintf(" state %q", state)
	}
	d.say("spawn %s:%s%s -> %s: %s", module, fn, st, label(name, pid.String()), about)
	d.log.name(pid.String(), name) // after the narration: it shows held lines
	return pid, nil
}

// send sends each message in turn to each process.
func (d *demo) send(msgs []string, pids ...host.PID) error {
	names := make([]string, len(pids))
	for i, pid := range pids {
		names[i] = d.who(pid)
	}
	quoted := make([]string, len(msgs))
	for i, m := range msgs {
		quoted[i] = fmt.Sprintf("%q", m)
	}
	d.say("send %s to %s", strings.Join(quoted, ", "), strings.Join(names, " and "))
	for _, m := range msgs {
		for _, pid := range pids {
			if err := d.h.Send(pid, []byte(m)); err != nil {
				return err
			}
		}
	}
	return nil
}

// expect waits for n lines of pid, written since mark, that contain text
// and come from version vsn (any version when vsn is 0).
func (d *demo) expect(mark int, pid host.PID, vsn uint64, text string, n int) error {
	id := pid.String()
	what := fmt.Sprintf("%s to log %q", d.who(pid), text)
	if vsn != 0 {
		what += fmt.Sprintf(" from vsn %d", vsn)
	}
	return d.within(what, func(ctx context.Context) error {
		return d.log.await(ctx, mark, n, func(gl guestLine) bool {
			return gl.pid == id && strings.Contains(gl.text, text) && (vsn == 0 || gl.vsn == vsn)
		})
	})
}

// exitOf waits for a process to exit.
func (d *demo) exitOf(pid host.PID) (host.Exit, error) {
	var e host.Exit
	err := d.within(d.who(pid)+" to exit", func(ctx context.Context) error {
		var err error
		e, err = d.h.Wait(ctx, pid)
		return err
	})
	return e, err
}

// receiving waits until each process is blocked in receive. A guest logs
// what it did with a message before it reaches its upgrade point (the
// continue after it), so a load right after its line arrives could come
// before that point; once it waits in receive, it is past it.
func (d *demo) receiving(pids ...host.PID) error {
	for _, pid := range pids {
		err := d.within(d.who(pid)+" to wait in receive", func(ctx context.Context) error {
			for {
				pi, err := d.h.Process(pid)
				if err != nil || pi.Status == host.Suspended {
					return err
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Millisecond):
				}
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// vsnOf returns the version a live process runs.
func (d *demo) vsnOf(pid host.PID) (uint64, error) {
	pi, err := d.h.Process(pid)
	return pi.Vsn, err
}

// lingers is check_process_code(pid, module).
func (d *demo) lingers(pid host.PID, module string) (bool, error) {
	return d.h.CheckProcessCode(pid, module)
}

// want fails the demo when what it narrates did not happen.
func want(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf("unexpected: "+format, args...)
}

// tables prints the module and process tables.
func (d *demo) tables() {
	d.log.flush()
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    MODULE\tCURRENT\tOLD\tLINGERING IN OLD\tSTICKY")
	for _, m := range d.h.Modules() {
		cur, old, lin := "-", "-", "-"
		if m.Current != nil {
			cur = fmt.Sprintf("vsn %d", m.Current.Vsn)
		}
		if m.Old != nil {
			old = fmt.Sprintf("vsn %d", m.Old.Vsn)
			lin = fmt.Sprint(m.Old.Lingering)
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%v\n", m.Name, cur, old, lin, m.Sticky)
	}
	_ = tw.Flush()
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    PID\tNAME\tMODULE\tVSN\tSTATUS\tEXIT")
	for _, p := range d.h.Processes() {
		vsn, exit := "-", "-"
		if p.Vsn != 0 {
			vsn = fmt.Sprint(p.Vsn)
		}
		if p.Exit != nil {
			exit = p.Exit.String()
		}
		fmt.Fprintf(tw, "    %.8s\t%s\t%s\t%s\t%s\t%s\n", p.PID, d.log.nameOf(p.PID.String()), p.Module, vsn, p.Status, exit)
	}
	_ = tw.Flush()
	_, _ = d.out.Write(b.Bytes())
}
