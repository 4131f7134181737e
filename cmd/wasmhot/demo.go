package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/host"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "narrate hot code loading with the embedded example guests",
		Description: "Runs the story of Erlang's hot code loading on real wasmhot processes:\n" +
			"loading new versions under running loops, partial updates, a controlled\n" +
			"upgrade with a state transform, soft purge and purge, reload, and Go calls\n" +
			"through the export table. Guest log lines are shown prefixed with \"guest|\".\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot demo --timeout 30s",
		Flags: []cli.Flag{
			&cli.DurationFlag{
				Name:  "timeout",
				Value: 10 * time.Second,
				Usage: "fail (exit 1) when a guest event takes longer than `DURATION`",
			},
		},
		Action: func(c *cli.Context) error {
			if _, err := exactArgs(c, 0); err != nil {
				return err
			}
			if c.Duration("timeout") <= 0 {
				return usageError(c, "--timeout must be positive")
			}
			return runDemo(c.Context, c.App.Writer, c.Duration("timeout"))
		},
	}
}

// runDemo tells the story step by step on a fresh host, which it closes.
func runDemo(ctx context.Context, w io.Writer, timeout time.Duration) (err error) {
	out := &lockedWriter{w: w}
	lg := newGuestLog(out)
	h, err := host.New(ctx, host.NewConfig().WithLog(lg))
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if cerr := h.Close(cctx); cerr != nil && err == nil {
			err = fmt.Errorf("close host: %w", cerr)
		}
		lg.flush()
	}()
	d := &demo{ctx: ctx, h: h, out: out, log: lg, timeout: timeout, pids: map[string]host.PID{}}
	_, _ = fmt.Fprintln(out, "wasmhot demo: Erlang/OTP-style hot code loading, in WebAssembly guests.")
	_, _ = fmt.Fprintln(out, "Lines marked guest| are the guests' own log lines: module vsn process: text.")
	steps := []struct {
		title string
		run   func() error
	}{
		{"load test v1 and spawn two loops", d.stepOldCode},
		{"load test v2 under the running loops", d.stepNewCode},
		{"partial update: a local loop stays, an external self-call moves on", d.stepPartial},
		{"controlled upgrade: hotfix moves to v2 only when told, transforming its state", d.stepHotfix},
		{"soft purge refuses while a process lingers in old code", d.stepSoftPurge},
		{"purge kills the lingering process, the other lives on", d.stepPurge},
		{"reload: purge the oldest test code, then load a third version", d.stepReload},
		{"a Go call through the export table follows the current version", d.stepGoCall},
		{"summary", d.stepSummary},
	}
	for i, s := range steps {
		_, _ = fmt.Fprintf(out, "\n%d. %s\n", i+1, s.title)
		if err := s.run(); err != nil {
			return fmt.Errorf("demo step %d (%s): %w", i+1, s.title, err)
		}
	}
	return nil
}

func (d *demo) stepOldCode() error {
	if err := d.load("test", "test_v1"); err != nil {
		return err
	}
	mark := d.log.mark()
	loop, err := d.spawn("loop", "test", "run", "50", "prints a line, sleeps 50 ms, then continue(run)")
	if err != nil {
		return err
	}
	sleeper, err := d.spawn("sleeper", "test", "run", "3600000", "the same loop, sleeping an hour per iteration")
	if err != nil {
		return err
	}
	if err := d.expect(mark, sleeper, 1, "this is old code", 1); err != nil {
		return err
	}
	return d.expect(mark, loop, 1, "this is old code", 3)
}

func (d *demo) stepNewCode() error {
	loop, sleeper := d.pids["loop"], d.pids["sleeper"]
	mark := d.log.mark()
	if err := d.load("test", "test_v2"); err != nil {
		return err
	}
	if err := d.expect(mark, loop, 2, "this is new code", 1); err != nil {
		return err
	}
	d.say("the loop runs vsn 2 from its next iteration: continue(run) is ?MODULE:run()")
	in, err := d.lingers(sleeper, "test")
	if err != nil {
		return err
	}
	mi, err := d.h.Which("test")
	if err != nil {
		return err
	}
	n := -1
	if mi.Old != nil {
		n = mi.Old.Lingering
	}
	d.say("the sleeper is still asleep in vsn 1: check_process_code(sleeper, test) = %v", in)
	d.say("old vsn 1 now has %d lingering process: the sleeper", n)
	d.log.mute(loop.String(), true)
	d.say("(the loop goes on printing every 50 ms; its lines are hidden until step 7)")
	return want(in && n == 1, "sleeper lingers %v, %d lingering in test's old code", in, n)
}

func (d *demo) stepPartial() error {
	if err := d.load("a", "a_loop_v1"); err != nil {
		return err
	}
	local, err := d.spawn("local", "a", "run_local", "", "receives messages in a local loop")
	if err != nil {
		return err
	}
	ext, err := d.spawn("ext", "a", "run", "", "receives one message, then continue(run)")
	if err != nil {
		return err
	}
	// Each round sends msg to both and waits for what each version says.
	round := func(msg string, localVsn, extVsn uint64) error {
		mark := d.log.mark()
		if err := d.send([]string{msg}, local, ext); err != nil {
			return err
		}
		if err := d.expect(mark, local, localVsn, fmt.Sprintf("v%d got %s", localVsn, msg), 1); err != nil {
			return err
		}
		return d.expect(mark, ext, extVsn, fmt.Sprintf("v%d got %s", extVsn, msg), 1)
	}
	if err := round("hello", 1, 1); err != nil {
		return err
	}
	if err := d.receiving(local, ext); err != nil {
		return err
	}
	if err := d.load("a", "a_loop_v2"); err != nil {
		return err
	}
	d.say("both processes are blocked in receive, inside vsn 1 code")
	if err := round("ping", 1, 1); err != nil {
		return err
	}
	d.say("vsn 1 handled the message each was blocked on; then ext continued into vsn 2")
	if err := round("pong", 1, 2); err != nil {
		return err
	}
	lv, err := d.vsnOf(local)
	if err != nil {
		return err
	}
	ev, err := d.vsnOf(ext)
	if err != nil {
		return err
	}
	d.say("process table: local runs vsn %d, ext runs vsn %d", lv, ev)
	return want(lv == 1 && ev == 2, "local in vsn %d, ext in vsn %d", lv, ev)
}

func (d *demo) stepHotfix() error {
	if err := d.load("hotfix", "hotfix_v1"); err != nil {
		return err
	}
	srv, err := d.spawn("server", "hotfix", "server", "", "a counter; upgrades only on \"update\"")
	if err != nil {
		return err
	}
	if err := d.send([]string{"incr", "incr"}, srv); err != nil {
		return err
	}
	if err := d.load("hotfix", "hotfix_v2"); err != nil {
		return err
	}
	// Each exchange sends msgs and waits for what "get" logs.
	exchange := func(msgs []string, vsn uint64, text string) error {
		mark := d.log.mark()
		if err := d.send(msgs, srv); err != nil {
			return err
		}
		return d.expect(mark, srv, vsn, text, 1)
	}
	if err := exchange([]string{"incr", "get"}, 1, "v1 count=3"); err != nil {
		return err
	}
	d.say("v2 is loaded, yet the server still counts in v1 (incr adds 1): its loop is local")
	if err := exchange([]string{"update", "get"}, 2, "v2 count=3 from=1"); err != nil {
		return err
	}
	d.say("\"update\" is the upgrade point: v2's code_change(1) turned the v1 state into v2's")
	if err := exchange([]string{"incr", "get"}, 2, "v2 count=13"); err != nil {
		return err
	}
	d.say("in v2, incr adds 10")
	return nil
}

func (d *demo) stepSoftPurge() error {
	local, ext := d.pids["local"], d.pids["ext"]
	ok, err := d.h.SoftPurge(d.ctx, "a")
	if err != nil {
		return err
	}
	d.say("soft_purge(a) = %v: old vsn 1 is still in use", ok)
	inLocal, err := d.lingers(local, "a")
	if err != nil {
		return err
	}
	inExt, err := d.lingers(ext, "a")
	if err != nil {
		return err
	}
	d.say("check_process_code(local, a) = %v, check_process_code(ext, a) = %v", inLocal, inExt)
	return want(!ok && inLocal && !inExt, "soft purge %v, local lingers %v, ext lingers %v", ok, inLocal, inExt)
}

func (d *demo) stepPurge() error {
	local, ext := d.pids["local"], d.pids["ext"]
	res, err := d.h.Purge(d.ctx, "a")
	if err != nil {
		return err
	}
	d.say("purge(a) = %v: killed %d process(es), interrupted %d call(s)", res.KilledAny(), res.Killed, res.Interrupted)
	e, err := d.exitOf(local)
	if err != nil {
		return err
	}
	d.say("local exited: %s", e)
	mark := d.log.mark()
	if err := d.send([]string{"are you there?"}, ext); err != nil {
		return err
	}
	if err := d.expect(mark, ext, 2, "v2 got are you there?", 1); err != nil {
		return err
	}
	d.say("ext lives on in vsn 2%s", d.oldNote("a"))
	return want(res.KilledAny() && res.Killed == 1 && e.Reason == host.Killed,
		"purge killed %d, local exited %s", res.Killed, e)
}

func (d *demo) stepReload() error {
	loop, sleeper := d.pids["loop"], d.pids["sleeper"]
	d.log.mute(loop.String(), false)
	d.say("test has current vsn 2 and old vsn 1, where the sleeper has slept since step 1")
	mark := d.log.mark()
	vi, res, err := d.h.Reload(d.ctx, "test", guestexamples.Wasm("test_v1"))
	if err != nil {
		return err
	}
	d.say("reload test with test_v1's bytes: purge killed %d process(es); vsn %d is current%s",
		res.Killed, vi.Vsn, d.oldNote("test"))
	e, err := d.exitOf(sleeper)
	if err != nil {
		return err
	}
	d.say("sleeper exited: %s", e)
	if err := d.expect(mark, loop, 3, "this is old code", 1); err != nil {
		return err
	}
	d.log.mute(loop.String(), true)
	d.say("the loop lives on: it moved from vsn 2 to vsn 3 at its next iteration (hidden again)")
	return want(res.Killed == 1 && e.Reason == host.Killed && vi.Vsn == 3,
		"reload killed %d, sleeper exited %s, vsn %d", res.Killed, e, vi.Vsn)
}

func (d *demo) stepGoCall() error {
	if err := d.load("counter", "counter_v1"); err != nil {
		return err
	}
	f, err := d.h.Func("counter", "version")
	if err != nil {
		return err
	}
	before, err := d.callVersion(f)
	if err != nil {
		return err
	}
	vi, _, err := d.h.Reload(d.ctx, "counter", guestexamples.Wasm("counter_v2"))
	if err != nil {
		return err
	}
	d.say("reload counter with counter_v2: vsn %d is current%s", vi.Vsn, d.oldNote("counter"))
	after, err := d.callVersion(f)
	if err != nil {
		return err
	}
	d.say("the same host.Func, resolved once, now reaches vsn %d", vi.Vsn)
	if err := d.h.SetSticky("counter", true); err != nil {
		return err
	}
	_, _, err = d.h.Reload(d.ctx, "counter", guestexamples.Wasm("counter_v3"))
	d.say("set_sticky(counter); reload counter with counter_v3 is refused: %v", err)
	return want(before == 1 && after == 2 && errors.Is(err, host.ErrSticky),
		"version() %d then %d, sticky reload error %v", before, after, err)
}

// callVersion calls counter:version() and its bytes function echo.
func (d *demo) callVersion(f *host.Func) (uint64, error) {
	res, err := f.Call(d.ctx)
	if err != nil {
		return 0, err
	}
	echo, err := d.h.CallBytes(d.ctx, "counter", "echo", []byte("hello"))
	if err != nil {
		return 0, err
	}
	d.say("%s() = %d; counter:echo(\"hello\") = %q", f.Name(), res[0], echo)
	return res[0], nil
}

func (d *demo) stepSummary() error {
	d.tables()
	if err := d.within("the host to close", d.h.Close); err != nil {
		return err
	}
	_, _ = fmt.Fprintln(d.out, "\nhost closed: the processes still running were killed. The end.")
	return nil
}
