package host_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wasmhot/wasmhot/host"
)

// The fault-injection test drives chaos processes (guest-examples/wat/
// chaos.wat): each receives commands and, told to, forwards counted
// messages to a peer, spawns a child, traps, spins, grows its memory past
// the limit, exits, or upgrades at its continue point. Every process keeps
// per-peer counters of messages sent, sends that failed and messages
// received, which it reports at the end.
const (
	faultProcs       = 200              // processes spawned by the test
	faultMaxChildren = 40               // processes spawned by processes
	faultRoundsV1    = 5                // rounds of traffic before v2 is loaded
	faultRounds      = 10               // rounds in all
	faultWait        = 20 * time.Second // bound on every wait
	// faultFuel is WithFuel: spinners exit with limit. Fuel counts
	// instructions, not time, so a process that waits for a CPU uses none:
	// a chaos process handles a message with a few hundred instructions.
	faultFuel      = 10_000_000
	faultMaxHandle = 512 // chaos.wat keeps counters for handles below this
)

// fate is what the test does to a process, hence how it must end.
type fate int

const (
	survive    fate = iota // alive at the end, all its messages accounted
	fateTrap               // told to execute unreachable: exit trap
	fateSpin               // told to spin: exit limit (the budget)
	fateOOM                // told to grow past the memory limit: grow -1, then trap
	fateExit               // told to return: exit normal
	fateKill               // killed from Go (Host.Kill): exit killed
	fateLinger             // stays in v1 when v2 is loaded: killed by the purge
	fateCount
)

func (f fate) String() string {
	return [...]string{"survive", "trap", "spin", "oom", "exit", "kill", "linger"}[f]
}

// reason is the exit reason the fate implies.
func (f fate) reason() host.Reason {
	return [...]host.Reason{"", host.Trap, host.Limit, host.Trap, host.Normal, host.Killed, host.Killed}[f]
}

// command is the message that makes the fault happen (kill: none).
func (f fate) command() string {
	return [...]string{"", "T", "S", "G", "X", "", ""}[f]
}

// initialFates: how many of the initial processes meet each fate; the rest
// survive. A child meets each fate with odds 1 in 13, and survives
// otherwise.
var initialFates = map[fate]int{fateTrap: 14, fateSpin: 10, fateOOM: 10, fateExit: 10, fateKill: 8, fateLinger: 24}

type chaosProc struct {
	pid      host.PID
	handle   int64
	child    bool
	fate     fate
	faultAt  int           // round of its fault (victims)
	faulted  bool          // the fault is injected: the test sends it nothing more
	gone     bool          // a lingerer, killed by the purge
	upgraded bool          // told U after v2 was loaded
	told     map[int64]int // messages it was told (F) to send, per peer handle
	qs       int           // barriers (Q) sent to it
	ps       int           // spawns (P) asked of it
}

// live says whether the test still talks to p.
func (p *chaosProc) live() bool { return !p.faulted && !p.gone }

func (p *chaosProc) survivor() bool { return p.fate == survive }

// chaosLog parses the guest log ("chaos vN <pid>: text") per process.
type chaosLog struct {
	mu    sync.Mutex
	lines map[host.PID][]string
	qs    map[host.PID]int
	kids  map[host.PID]int
	ends  map[host.PID]bool
	other []string // lines that are not from a chaos process
}

func newChaosLog() *chaosLog {
	return &chaosLog{lines: map[host.PID][]string{}, qs: map[host.PID]int{}, kids: map[host.PID]int{}, ends: map[host.PID]bool{}}
}

func (l *chaosLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		head, text, ok := strings.Cut(s, ": ")
		f := strings.Fields(head)
		if !ok || len(f) != 3 || f[0] != "chaos" {
			l.other = append(l.other, s)
			continue
		}
		pid, err := uuid.Parse(f[2])
		if err != nil {
			l.other = append(l.other, s)
			continue
		}
		l.lines[pid] = append(l.lines[pid], text)
		switch {
		case text == "q":
			l.qs[pid]++
		case strings.HasPrefix(text, "end "):
			l.ends[pid] = true
		case strings.HasPrefix(text, "child "):
			l.kids[pid]++
		}
	}
	return len(b), nil
}

func (l *chaosLog) of(pid host.PID) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines[pid]...)
}

func (l *chaosLog) q(pid host.PID) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.qs[pid]
}

func (l *chaosLog) children(pid host.PID) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.kids[pid]
}

func (l *chaosLog) ended(pid host.PID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ends[pid]
}

// chaosVsn returns chaos.wasm with version() answering n.
func chaosVsn(t testing.TB, n uint32) []byte {
	t.Helper()
	b := append([]byte(nil), wasm("chaos")...)
	i := bytes.Index(b, []byte("VSN!"))
	if i < 0 {
		t.Fatal("chaos has no VSN! marker")
	}
	binary.LittleEndian.PutUint32(b[i+4:], n)
	return b
}

type chaosRun struct {
	t      *testing.T
	ctx    context.Context
	h      *host.Host
	log    *chaosLog
	rng    *rand.Rand
	procs  map[int64]*chaosProc
	order  []*chaosProc // spawn order
	round  int
	loaded bool // v2 is loaded

	spawns    int // P commands sent
	children  int // children discovered
	injected  map[fate]int
	commands  int // messages sent from Go
	purgeKill int
}

// TestFaultInjection runs 200 chaos processes (and the children they spawn)
// that send each other counted messages while the test, at random (the seed
// is logged; WASMHOT_FAULT_SEED replays it), makes some trap, spin past the
// process budget, grow past the memory limit, exit, or get killed, loads a
// new version of their module in the middle of the traffic and purges the
// old one, killing the processes left in it. At the end every process has
// exited with the reason its fault implies or is alive, every message
// between two surviving processes arrived (per pair, as many received as
// sent), the node still answers, and Close leaves no goroutine behind.
func TestFaultInjection(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("WASMHOT_FAULT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("WASMHOT_FAULT_SEED: %v", err)
		}
	}
	t.Logf("seed %d (WASMHOT_FAULT_SEED=%d replays it)", seed, seed)
	goroutinesBefore := runtime.NumGoroutine()

	ctx := context.Background()
	lg := newChaosLog()
	h, err := host.New(ctx, host.NewConfig().
		WithMemoryLimitPages(4).
		WithFuel(faultFuel).
		WithInteractive(false).
		WithLog(lg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	if _, err := h.Load(ctx, "chaos", chaosVsn(t, 1)); err != nil {
		t.Fatal(err)
	}
	c := &chaosRun{
		t: t, ctx: ctx, h: h, log: lg,
		rng:      rand.New(rand.NewSource(seed)),
		procs:    map[int64]*chaosProc{},
		injected: map[fate]int{},
	}

	// The initial processes and their fates.
	var fates []fate
	for f := fate(1); f < fateCount; f++ {
		for i := 0; i < initialFates[f]; i++ {
			fates = append(fates, f)
		}
	}
	for len(fates) < faultProcs {
		fates = append(fates, survive)
	}
	c.rng.Shuffle(len(fates), func(i, j int) { fates[i], fates[j] = fates[j], fates[i] })
	for _, f := range fates {
		pid, err := h.Spawn(ctx, "chaos", "run", nil)
		if err != nil {
			t.Fatalf("spawn: %v", err)
		}
		p := c.add(pid, false)
		p.fate = f
		if f != survive && f != fateLinger {
			p.faultAt = c.rng.Intn(faultRounds - 1)
		}
	}

	// A Go caller calls chaos:version all along: no call may fail, and the
	// version never goes back.
	stop := make(chan struct{})
	callerDone := make(chan struct{})
	var goCalls int
	var goCallErr error
	go func() {
		defer close(callerDone)
		last := uint64(1)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			res, err := h.Call(ctx, "chaos", "version")
			goCalls++
			if err == nil && (len(res) != 1 || res[0] < last || res[0] > 2) {
				err = fmt.Errorf("version %v after %d", res, last)
			}
			if err != nil {
				goCallErr = err
				return
			}
			last = res[0]
		}
	}()

	for c.round = 0; c.round < faultRounds; c.round++ {
		c.discover()
		c.traffic()
		switch c.round {
		case faultRoundsV1 - 1:
			// Everything sent so far is handled (so every child spawned so
			// far is in v1 and known), the faults injected so far have
			// struck; then v2 comes, and every process but the lingerers is
			// told to take it at its next message.
			c.barrier()
			c.waitVictims()
			c.discover()
			if _, err := h.Load(ctx, "chaos", chaosVsn(t, 2)); err != nil {
				t.Fatalf("load v2: %v", err)
			}
			c.loaded = true
			c.upgrade()
		case faultRoundsV1 + 1:
			// Two more rounds of traffic are in flight: purge v1.
			c.purge()
		}
	}
	c.barrier()
	c.discover()
	c.waitVictims()
	close(stop)
	<-callerDone
	if goCallErr != nil {
		t.Fatalf("Go call %d during the storm: %v", goCalls, goCallErr)
	}
	sent, received, failed, told, pairs := c.report()
	c.account()

	// The node still answers: a Go call, a spawn, a message, an exit.
	if res, err := h.Call(ctx, "chaos", "version"); err != nil || len(res) != 1 || res[0] != 2 {
		t.Fatalf("chaos:version after the storm: %v, %v", res, err)
	}
	if m, err := h.Which("chaos"); err != nil || m.Current == nil || m.Current.Vsn != 2 || m.Old != nil {
		t.Fatalf("chaos after the storm: %+v, %v", m, err)
	}
	pid, err := h.Spawn(ctx, "chaos", "run", nil)
	if err != nil {
		t.Fatalf("spawn after the storm: %v", err)
	}
	c.send(pid, "Q")
	c.waitUntil("the new process answers", func() bool { return lg.q(pid) == 1 })
	c.send(pid, "X")
	wctx, cancel := context.WithTimeout(ctx, faultWait)
	e, err := h.Wait(wctx, pid)
	cancel()
	if err != nil || e.Reason != host.Normal {
		t.Fatalf("new process: exit %v, %v", e, err)
	}
	lg.mu.Lock()
	other := lg.other
	lg.mu.Unlock()
	if len(other) > 0 {
		t.Errorf("log lines not from a chaos process: %q", other)
	}

	cctx, cancel := context.WithTimeout(ctx, faultWait)
	defer cancel()
	if err := h.Close(cctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	goroutinesAfter := settleGoroutines(goroutinesBefore)
	if goroutinesAfter > goroutinesBefore {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before, %d after Close\n%s", goroutinesBefore, goroutinesAfter, buf[:runtime.Stack(buf, true)])
	}

	// Figures.
	var byFate [fateCount]int
	for _, p := range c.order {
		byFate[p.fate]++
	}
	t.Logf("processes: %d (%d spawned by the test, %d by processes)", len(c.order), faultProcs, c.children)
	t.Logf("faults injected: trap %d, spin %d, oom %d, exit %d, kill %d; lingering in v1, killed by the purge: %d",
		c.injected[fateTrap], c.injected[fateSpin], c.injected[fateOOM], c.injected[fateExit], c.injected[fateKill], c.purgeKill)
	t.Logf("survivors: %d; commands sent from Go: %d; Go calls during the storm: %d, none failed", byFate[survive], c.commands, goCalls)
	t.Logf("counted messages: %d sent by survivors as told (%d sends refused: peer gone); between %d surviving pairs %d sent, %d received, %d lost",
		told, failed, pairs, sent, received, sent-received)
	t.Logf("goroutines: %d before, %d after Close", goroutinesBefore, goroutinesAfter)
}

// add records a new process.
func (c *chaosRun) add(pid host.PID, child bool) *chaosProc {
	c.t.Helper()
	pi, err := c.h.Process(pid)
	if err != nil {
		c.t.Fatalf("process %s: %v", pid, err)
	}
	if pi.Handle >= faultMaxHandle || c.procs[pi.Handle] != nil {
		c.t.Fatalf("handle %d: out of range or taken", pi.Handle)
	}
	p := &chaosProc{pid: pid, handle: pi.Handle, child: child, told: map[int64]int{}}
	c.procs[p.handle] = p
	c.order = append(c.order, p)
	return p
}

// discover adds the children spawned since the last look and gives them a
// fate: a fault in a later round, lingering in v1 when born before v2 was
// loaded, or survival.
//
// It first waits until every spawn asked for is done (the parent logged the
// child, or has exited): Host.Processes during a spawn is a data race
// (Host.spawn publishes the process in the table, then sets its instance
// without holding its lock).
func (c *chaosRun) discover() {
	c.t.Helper()
	c.waitUntil("every spawn asked for is done", func() bool {
		for _, p := range c.order {
			if c.log.children(p.pid) < p.ps {
				if pi, err := c.h.Process(p.pid); err != nil || pi.Exit == nil {
					return false
				}
			}
		}
		return true
	})
	for _, pi := range c.h.Processes() {
		if c.procs[pi.Handle] != nil {
			continue
		}
		if pi.Exit != nil {
			c.t.Fatalf("child %d exited before the test knew it: %v", pi.Handle, pi.Exit)
		}
		if want := map[bool]uint64{false: 1, true: 2}[c.loaded]; pi.Vsn != want {
			c.t.Fatalf("child %d born in v%d, want v%d", pi.Handle, pi.Vsn, want)
		}
		p := c.add(pi.PID, true)
		c.children++
		f := fate(c.rng.Intn(int(fateCount)*2 - 1)) // 0..12: 7 in 13 survive
		if f >= fateCount {
			f = survive
		}
		rest := faultRounds - 2 - c.round // rounds left for a fault
		switch {
		case f == fateLinger && c.loaded, f != survive && f != fateLinger && rest <= 0:
			f = survive
		case f != survive && f != fateLinger:
			p.faultAt = c.round + 1 + c.rng.Intn(rest)
		}
		p.fate = f
	}
}

// traffic sends each live process one to three commands, or its fault.
func (c *chaosRun) traffic() {
	c.t.Helper()
	ps := append([]*chaosProc(nil), c.order...)
	c.rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
	for _, p := range ps {
		if !p.live() {
			continue
		}
		if p.fate != survive && p.fate != fateLinger && p.faultAt == c.round {
			c.inject(p)
			continue
		}
		for k := 1 + c.rng.Intn(3); k > 0; k-- {
			if c.spawns < faultMaxChildren && c.round < faultRounds-2 && c.rng.Intn(30) == 0 {
				c.send(p.pid, "P")
				p.ps++
				c.spawns++
				continue
			}
			peer := c.order[c.rng.Intn(len(c.order))]
			n := 1 + c.rng.Intn(4)
			msg := make([]byte, 13)
			msg[0] = 'F'
			binary.LittleEndian.PutUint64(msg[1:], uint64(peer.handle))
			binary.LittleEndian.PutUint32(msg[9:], uint32(n))
			c.send(p.pid, string(msg))
			p.told[peer.handle] += n
		}
	}
}

func (c *chaosRun) send(pid host.PID, msg string) {
	c.t.Helper()
	if err := c.h.Send(pid, []byte(msg)); err != nil {
		pi, _ := c.h.Process(pid)
		c.t.Fatalf("round %d: send %q to %d: %v (exit %v)", c.round, msg[:1], pi.Handle, err, pi.Exit)
	}
	c.commands++
}

func (c *chaosRun) inject(p *chaosProc) {
	c.t.Helper()
	if p.fate == fateKill {
		if err := c.h.Kill(p.pid); err != nil {
			c.t.Fatalf("kill %d: %v", p.handle, err)
		}
	} else {
		c.send(p.pid, p.fate.command())
	}
	p.faulted = true
	c.injected[p.fate]++
}

// barrier sends Q to every live process and waits for each to log q: all
// it was sent before is handled, every message it was told to send is in
// its peer's mailbox.
func (c *chaosRun) barrier() {
	c.t.Helper()
	var ps []*chaosProc
	for _, p := range c.order {
		if p.live() {
			c.send(p.pid, "Q")
			p.qs++
			ps = append(ps, p)
		}
	}
	c.waitUntil("every live process passes the barrier", func() bool {
		for _, p := range ps {
			if c.log.q(p.pid) < p.qs {
				if pi, _ := c.h.Process(p.pid); pi.Exit != nil {
					c.t.Fatalf("round %d: process %d (%s) exited before the barrier: %v", c.round, p.handle, p.fate, pi.Exit)
				}
				return false
			}
		}
		return true
	}, func() string {
		var late []string
		for _, p := range ps {
			if c.log.q(p.pid) < p.qs {
				pi, _ := c.h.Process(p.pid)
				late = append(late, fmt.Sprintf("%d (%s, v%d, %s, %d queued, exit %v, %d/%d q, log %q)",
					p.handle, p.fate, pi.Vsn, pi.Status, pi.MailboxLen, pi.Exit, c.log.q(p.pid), p.qs, c.log.of(p.pid)))
			}
		}
		return strings.Join(late, "\n")
	})
}

// waitVictims waits for every process whose fault was injected to exit.
func (c *chaosRun) waitVictims() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, faultWait)
	defer cancel()
	for _, p := range c.order {
		if !p.faulted {
			continue
		}
		e, err := c.h.Wait(ctx, p.pid)
		if err != nil {
			c.t.Fatalf("round %d: process %d (%s) has not exited: %v", c.round, p.handle, p.fate, err)
		}
		if e.Reason != p.fate.reason() {
			c.t.Fatalf("round %d: process %d (%s): exit %v, want %s", c.round, p.handle, p.fate, e, p.fate.reason())
		}
	}
}

// upgrade tells every live process but the lingerers to take v2.
func (c *chaosRun) upgrade() {
	c.t.Helper()
	for _, p := range c.order {
		if p.live() && p.fate != fateLinger {
			c.send(p.pid, "U")
			p.upgraded = true
		}
	}
}

// purge waits until every process told to upgrade runs v2 (or has exited:
// a fault after the upgrade), checks which processes linger in v1, and
// purges it while traffic is in flight: exactly the lingerers die.
func (c *chaosRun) purge() {
	c.t.Helper()
	c.discover() // the lingerers' spawns are done: their children are known
	c.waitUntil("every process told to upgrade runs v2", func() bool {
		for _, p := range c.order {
			if !p.upgraded {
				continue
			}
			pi, err := c.h.Process(p.pid)
			if err != nil || (pi.Exit == nil && pi.Vsn != 2) {
				return false
			}
		}
		return true
	})
	var lingerers []*chaosProc
	for _, p := range c.order {
		pi, _ := c.h.Process(p.pid)
		if pi.Exit != nil {
			if p.fate == survive || p.fate == fateLinger || !p.faulted {
				c.t.Fatalf("process %d (%s) exited before the purge: %v", p.handle, p.fate, pi.Exit)
			}
			continue
		}
		old, err := c.h.CheckProcessCode(p.pid, "chaos")
		if err != nil {
			c.t.Fatal(err)
		}
		if want := p.fate == fateLinger; old != want {
			c.t.Fatalf("process %d (%s, v%d): check_process_code %v, want %v", p.handle, p.fate, pi.Vsn, old, want)
		}
		if old {
			lingerers = append(lingerers, p)
		}
	}
	res, err := c.h.Purge(c.ctx, "chaos")
	if err != nil {
		c.t.Fatalf("purge: %v", err)
	}
	if res.Killed != len(lingerers) {
		c.t.Fatalf("purge killed %d, want the %d lingerers", res.Killed, len(lingerers))
	}
	ctx, cancel := context.WithTimeout(c.ctx, faultWait)
	defer cancel()
	for _, p := range lingerers {
		e, err := c.h.Wait(ctx, p.pid)
		if err != nil || e.Reason != host.Killed {
			c.t.Fatalf("lingerer %d after the purge: exit %v, %v", p.handle, e, err)
		}
		p.gone = true
	}
	c.purgeKill = len(lingerers)
}

// counters is one process's report.
type counters struct{ sent, failed, recv map[int64]int }

// report asks every survivor for its counters and checks them: each was
// told to send so many messages to each peer, and did (or the peer was
// gone); between two survivors every message sent was received. It returns
// the messages sent and received between surviving pairs, the sends refused,
// the messages survivors were told to send, and the number of surviving
// pairs that exchanged messages.
func (c *chaosRun) report() (sent, received, failed, told, pairs int) {
	c.t.Helper()
	var survivors []*chaosProc
	for _, p := range c.order {
		if p.survivor() {
			if !p.live() {
				c.t.Fatalf("survivor %d is not live", p.handle)
			}
			c.send(p.pid, "R")
			survivors = append(survivors, p)
		}
	}
	c.waitUntil("every survivor reports", func() bool {
		for _, p := range survivors {
			if !c.log.ended(p.pid) {
				return false
			}
		}
		return true
	})
	rep := map[int64]counters{}
	for _, p := range survivors {
		cs := counters{map[int64]int{}, map[int64]int{}, map[int64]int{}}
		for _, line := range c.log.of(p.pid) {
			f := strings.Fields(line)
			if len(f) > 0 && f[0] == "end" {
				if line != "end 2" {
					c.t.Errorf("survivor %d reported from %q, want v2", p.handle, line)
				}
				continue
			}
			if len(f) != 3 || (f[0] != "s" && f[0] != "f" && f[0] != "r") {
				continue
			}
			h, err1 := strconv.ParseInt(f[1], 10, 64)
			n, err2 := strconv.Atoi(f[2])
			if err1 != nil || err2 != nil {
				c.t.Fatalf("survivor %d: bad line %q", p.handle, line)
			}
			map[string]map[int64]int{"s": cs.sent, "f": cs.failed, "r": cs.recv}[f[0]][h] = n
		}
		rep[p.handle] = cs
	}
	for _, a := range survivors {
		ca := rep[a.handle]
		peers := map[int64]bool{}
		for _, m := range []map[int64]int{a.told, ca.sent, ca.failed} {
			for h := range m {
				peers[h] = true
			}
		}
		for h := range peers {
			told += a.told[h]
			failed += ca.failed[h]
			if ca.sent[h]+ca.failed[h] != a.told[h] {
				c.t.Errorf("%d was told to send %d to %d: sent %d, refused %d", a.handle, a.told[h], h, ca.sent[h], ca.failed[h])
			}
			b := c.procs[h]
			if b == nil {
				c.t.Errorf("%d sent to unknown handle %d", a.handle, h)
				continue
			}
			if !b.survivor() {
				continue
			}
			if ca.sent[h] > 0 {
				pairs++
			}
			sent += ca.sent[h]
			received += rep[h].recv[a.handle]
			if ca.failed[h] != 0 {
				c.t.Errorf("%d: %d sends to survivor %d refused", a.handle, ca.failed[h], h)
			}
			if got := rep[h].recv[a.handle]; got != ca.sent[h] {
				c.t.Errorf("%d sent %d to %d, which received %d", a.handle, ca.sent[h], h, got)
			}
		}
		for from, n := range ca.recv {
			if f := c.procs[from]; f != nil && f.survivor() && rep[from].sent[a.handle] != n {
				c.t.Errorf("%d received %d from %d, which sent %d", a.handle, n, from, rep[from].sent[a.handle])
			}
		}
	}
	return sent, received, failed, told, pairs
}

// account checks how every process ended, that the process table holds no
// process the test does not know, and that the children are exactly those
// the processes said they spawned.
func (c *chaosRun) account() {
	c.t.Helper()
	reasons := map[host.Reason]int{}
	for _, p := range c.order {
		pi, err := c.h.Process(p.pid)
		if err != nil {
			c.t.Fatalf("process %d: %v", p.handle, err)
		}
		if p.survivor() {
			if pi.Exit != nil || pi.Vsn != 2 {
				c.t.Errorf("survivor %d: %+v", p.handle, pi)
			}
			reasons["alive"]++
			continue
		}
		if pi.Exit == nil {
			c.t.Errorf("process %d (%s) is alive", p.handle, p.fate)
			continue
		}
		reasons[pi.Exit.Reason]++
		if pi.Exit.Reason != p.fate.reason() {
			c.t.Errorf("process %d (%s): exit %v, want %s", p.handle, p.fate, pi.Exit, p.fate.reason())
		}
		if p.fate == fateOOM {
			if lines := c.log.of(p.pid); len(lines) == 0 || lines[len(lines)-1] != "g 1 -1" {
				c.t.Errorf("process %d (oom): last lines %q, want grow 2 pages from 1, then -1", p.handle, lines)
			}
		}
	}
	known := map[int64]bool{}
	for _, pi := range c.h.Processes() {
		if c.procs[pi.Handle] == nil {
			c.t.Errorf("unknown process %+v", pi)
		}
		known[pi.Handle] = true
	}
	var said, have []int64
	for _, p := range c.order {
		if !known[p.handle] {
			c.t.Errorf("process %d not in the process table", p.handle)
		}
		if p.child {
			have = append(have, p.handle)
		}
		for _, line := range c.log.of(p.pid) {
			if h, ok := strings.CutPrefix(line, "child "); ok {
				n, err := strconv.ParseInt(h, 10, 64)
				if err != nil || n <= 0 {
					c.t.Errorf("process %d: %q", p.handle, line)
				}
				said = append(said, n)
			}
		}
	}
	sort.Slice(said, func(i, j int) bool { return said[i] < said[j] })
	sort.Slice(have, func(i, j int) bool { return have[i] < have[j] })
	if fmt.Sprint(said) != fmt.Sprint(have) {
		c.t.Errorf("children spawned %v, known %v", said, have)
	}
	c.t.Logf("exits: %v", reasons)
}

// waitUntil polls cond for at most faultWait; why, if given, explains a
// timeout.
func (c *chaosRun) waitUntil(what string, cond func() bool, why ...func() string) {
	c.t.Helper()
	deadline := time.Now().Add(faultWait)
	for !cond() {
		if time.Now().After(deadline) {
			var detail string
			for _, f := range why {
				detail += "\n" + f()
			}
			c.t.Fatalf("round %d: not in %v: %s%s", c.round, faultWait, what, detail)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// settleGoroutines waits (at most faultWait) for the goroutine count to come
// down to want, and returns it.
func settleGoroutines(want int) int {
	deadline := time.Now().Add(faultWait)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}
