package purger_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/purger"
)

// short is how long a test waits to be fairly sure that something blocked
// does not unblock; long bounds waits for things that must happen.
const (
	short = 30 * time.Millisecond
	long  = 10 * time.Second
)

// fakeProc is a purger.Process. It exits when exit is called or, with
// exitOnKill, a little after it is killed.
type fakeProc struct {
	name       string
	exitOnKill bool
	exitDelay  time.Duration

	kills atomic.Int32
	done  chan struct{}
	once  sync.Once
}

func newProc(name string, exitOnKill bool) *fakeProc {
	return &fakeProc{name: name, exitOnKill: exitOnKill, done: make(chan struct{})}
}

func (p *fakeProc) Kill() {
	p.kills.Add(1)
	if p.exitOnKill {
		go func() {
			time.Sleep(p.exitDelay)
			p.exit()
		}()
	}
}

func (p *fakeProc) exit()                 { p.once.Do(func() { close(p.done) }) }
func (p *fakeProc) Done() <-chan struct{} { return p.done }
func (p *fakeProc) String() string        { return p.name }

func (p *fakeProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// fakeTarget is a purger.Target.
type fakeTarget struct {
	gate purger.Gate

	mu sync.Mutex
	// lingering holds the successive answers of Lingering; the last one
	// repeats.
	lingering   [][]purger.Process
	nLingering  int
	onLingering func() // runs inside each Lingering call

	interrupts  atomic.Int32
	onInterrupt func()

	frees    atomic.Int32
	onFree   func()
	detaches atomic.Int32
}

func (t *fakeTarget) Gate() *purger.Gate { return &t.gate }

func (t *fakeTarget) Lingering() []purger.Process {
	if t.onLingering != nil {
		t.onLingering()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lingering) == 0 {
		return nil
	}
	i := min(t.nLingering, len(t.lingering)-1)
	t.nLingering++
	return append([]purger.Process(nil), t.lingering[i]...)
}

func (t *fakeTarget) setLingering(ps ...purger.Process) {
	t.mu.Lock()
	t.lingering = [][]purger.Process{ps}
	t.nLingering = 0
	t.mu.Unlock()
}

func (t *fakeTarget) InterruptCalls() {
	t.interrupts.Add(1)
	if t.onInterrupt != nil {
		t.onInterrupt()
	}
}

func (t *fakeTarget) Detach() { t.detaches.Add(1) }

func (t *fakeTarget) Free() {
	t.frees.Add(1)
	if t.onFree != nil {
		t.onFree()
	}
}

var (
	_ purger.Target  = (*fakeTarget)(nil)
	_ purger.Process = (*fakeProc)(nil)
)

// call is a call in flight through a gate: admitted at once, leaving when
// released.
type call struct {
	release chan struct{}
	left    chan struct{}
	once    sync.Once
}

// enter admits a call through g, failing the test if the gate refuses it.
func enter(t *testing.T, g *purger.Gate) *call {
	t.Helper()
	if !g.Enter() {
		t.Fatal("Enter refused on an open gate")
	}
	c := &call{release: make(chan struct{}), left: make(chan struct{})}
	go func() {
		<-c.release
		g.Leave()
		close(c.left)
	}()
	return c
}

func (c *call) leave() { c.once.Do(func() { close(c.release) }) }

// leaveNow releases the call and waits until it has left.
func (c *call) leaveNow(t *testing.T) {
	t.Helper()
	c.leave()
	select {
	case <-c.left:
	case <-time.After(long):
		t.Fatal("call did not leave")
	}
}

// async runs f in a goroutine and returns a channel closed when it returns.
func async(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	return done
}

func blocked(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return false
	case <-time.After(short):
		return true
	}
}

func waitDone(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(long):
		t.Fatalf("%s did not return", what)
	}
}

func TestGateZeroValueIsOpen(t *testing.T) {
	var g purger.Gate
	if g.Closed() {
		t.Fatal("zero gate is closed")
	}
	if n := g.InFlight(); n != 0 {
		t.Fatalf("InFlight = %d, want 0", n)
	}
	for i := 1; i <= 3; i++ {
		if !g.Enter() {
			t.Fatalf("Enter %d refused on an open gate", i)
		}
		if n := g.InFlight(); n != int64(i) {
			t.Fatalf("InFlight = %d, want %d", n, i)
		}
	}
	for i := 2; i >= 0; i-- {
		g.Leave()
		if n := g.InFlight(); n != int64(i) {
			t.Fatalf("InFlight = %d, want %d", n, i)
		}
	}
	if g.Closed() {
		t.Fatal("gate closed by Enter/Leave")
	}
}

func TestGateEnterFailsAfterClose(t *testing.T) {
	tests := []struct {
		name     string
		inFlight int
	}{
		{"idle", 0},
		{"one call in flight", 1},
		{"several calls in flight", 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var g purger.Gate
			calls := make([]*call, tc.inFlight)
			for i := range calls {
				calls[i] = enter(t, &g)
			}
			g.Close()
			if !g.Closed() {
				t.Fatal("Closed() false after Close")
			}
			for range 3 {
				if g.Enter() {
					t.Fatal("Enter admitted a call after Close")
				}
				// A refused Enter admits nothing.
				if n := g.InFlight(); n != int64(tc.inFlight) {
					t.Fatalf("InFlight = %d, want %d", n, tc.inFlight)
				}
			}
			for _, c := range calls {
				c.leaveNow(t)
			}
			if n := g.InFlight(); n != 0 {
				t.Fatalf("InFlight = %d after every call left, want 0", n)
			}
			if g.Enter() {
				t.Fatal("Enter admitted a call after the gate drained")
			}
			g.Close() // closing again is harmless
			if g.Enter() || !g.Closed() {
				t.Fatal("gate reopened by a second Close")
			}
			if err := g.Wait(context.Background()); err != nil {
				t.Fatalf("Wait = %v", err)
			}
		})
	}
}

func TestGateWaitIdle(t *testing.T) {
	var g purger.Gate
	g.Close()
	done := async(func() {
		if err := g.Wait(context.Background()); err != nil {
			t.Errorf("Wait = %v", err)
		}
	})
	waitDone(t, done, "Wait on a closed idle gate")
	// A refused Enter on a drained gate leaves it drained.
	if g.Enter() {
		t.Fatal("Enter admitted a call after Close")
	}
	if err := g.Wait(context.Background()); err != nil {
		t.Fatalf("second Wait = %v", err)
	}
}

func TestGateWaitReturnsWhenLastCallLeaves(t *testing.T) {
	var g purger.Gate
	calls := []*call{enter(t, &g), enter(t, &g), enter(t, &g)}
	g.Close()
	var waitErr error
	done := async(func() { waitErr = g.Wait(context.Background()) })
	for i, c := range calls {
		if !blocked(done) {
			t.Fatalf("Wait returned with %d calls in flight", len(calls)-i)
		}
		c.leaveNow(t)
	}
	waitDone(t, done, "Wait")
	if waitErr != nil {
		t.Fatalf("Wait = %v", waitErr)
	}
	// Several waiters all return.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Wait(context.Background()); err != nil {
				t.Errorf("Wait = %v", err)
			}
		}()
	}
	waitDone(t, async(wg.Wait), "later Waits")
}

func TestGateWaitManyWaiters(t *testing.T) {
	var g purger.Gate
	c := enter(t, &g)
	g.Close()
	var wg sync.WaitGroup
	var returned atomic.Int32
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Wait(context.Background()); err != nil {
				t.Errorf("Wait = %v", err)
			}
			returned.Add(1)
		}()
	}
	time.Sleep(short)
	if n := returned.Load(); n != 0 {
		t.Fatalf("%d Waits returned with a call in flight", n)
	}
	c.leaveNow(t)
	waitDone(t, async(wg.Wait), "Waits")
}

func TestGateWaitHonoursContext(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"already canceled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"canceled while waiting", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(short, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), short)
		}, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var g purger.Gate
			c := enter(t, &g)
			g.Close()
			ctx, cancel := tc.ctx()
			defer cancel()
			var err error
			waitDone(t, async(func() { err = g.Wait(ctx) }), "Wait")
			if !errors.Is(err, tc.want) {
				t.Fatalf("Wait = %v, want %v", err, tc.want)
			}
			if n := g.InFlight(); n != 1 {
				t.Fatalf("InFlight = %d, want 1", n)
			}
			// The gate still drains normally afterwards.
			c.leaveNow(t)
			if err := g.Wait(context.Background()); err != nil {
				t.Fatalf("Wait after the call left = %v", err)
			}
		})
	}
}

func TestGateWaitOnOpenGatePanics(t *testing.T) {
	var g purger.Gate
	defer func() {
		if recover() == nil {
			t.Fatal("Wait on an open gate did not panic")
		}
	}()
	_ = g.Wait(context.Background())
}

// TestGateConcurrent closes gates while goroutines call through them, for
// a while, and checks the gate's promises: once Wait returns, no call that
// Enter admitted is still inside (a Leave that takes the count to zero just
// as the gate closes must not signal the drain while a call that entered in
// between is still running); nothing gets in after Close; the count returns
// to zero. The interleavings it looks for are rare, so it runs rounds for a
// fixed time; run it with -race, which widens them.
func TestGateConcurrent(t *testing.T) {
	budget := 3 * time.Second
	if testing.Short() {
		budget = 300 * time.Millisecond
	}
	const workers = 4
	deadline := time.Now().Add(budget)
	rounds, early := 0, 0
	for round := 0; time.Now().Before(deadline); round++ {
		rounds++
		var g purger.Gate
		var inside, admitted, refused atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for g.Enter() {
					inside.Add(1)
					inside.Add(-1)
					g.Leave()
					admitted.Add(1)
				}
				refused.Add(1)
			}()
		}
		// Close once the callers are going (after a varying number of
		// calls; on some rounds at once).
		for want := int64(round % 4 * 50); admitted.Load() < want; {
			runtime.Gosched()
		}
		g.Close()
		ctx, cancel := context.WithTimeout(context.Background(), long)
		err := g.Wait(ctx)
		cancel()
		if err != nil {
			t.Fatalf("round %d: Wait = %v", round, err)
		}
		if n := inside.Load(); n != 0 {
			early++
			if early == 1 {
				t.Errorf("round %d: Wait returned with %d admitted calls inside (InFlight %d)", round, n, g.InFlight())
			}
		}
		waitDone(t, async(wg.Wait), "callers")
		if n := refused.Load(); n != workers {
			t.Fatalf("round %d: %d callers refused, want %d", round, n, workers)
		}
		if n := g.InFlight(); n != 0 {
			t.Fatalf("round %d: InFlight = %d after everyone left", round, n)
		}
		if g.Enter() {
			t.Fatalf("round %d: Enter admitted a call after Close", round)
		}
		if err := g.Wait(context.Background()); err != nil {
			t.Fatalf("round %d: second Wait = %v", round, err)
		}
	}
	if early > 0 {
		t.Errorf("Wait returned early in %d of %d rounds", early, rounds)
	}
	t.Logf("%d rounds", rounds)
}

func TestSoftPurge(t *testing.T) {
	tests := []struct {
		name      string
		inFlight  int
		lingering int
		want      bool
	}{
		{"nothing holds it", 0, 0, true},
		{"a call in flight", 1, 0, false},
		{"several calls in flight", 3, 0, false},
		{"a process lingers", 0, 1, false},
		{"several processes linger", 0, 3, false},
		{"calls and processes", 2, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := &fakeTarget{}
			var procs []*fakeProc
			var lingering []purger.Process
			for i := range tc.lingering {
				p := newProc(fmt.Sprint("p", i), true)
				procs = append(procs, p)
				lingering = append(lingering, p)
			}
			tg.setLingering(lingering...)
			calls := make([]*call, tc.inFlight)
			for i := range calls {
				calls[i] = enter(t, &tg.gate)
			}
			// While the version is checked, new calls are turned back.
			var enteredDuringCheck atomic.Int32
			tg.onLingering = func() {
				if tg.gate.Enter() {
					enteredDuringCheck.Add(1)
					tg.gate.Leave()
				}
			}

			if got := purger.SoftPurge(tg); got != tc.want {
				t.Fatalf("SoftPurge = %v, want %v", got, tc.want)
			}
			tg.onLingering = nil
			if n := enteredDuringCheck.Load(); n != 0 {
				t.Errorf("%d calls admitted while SoftPurge checked the version", n)
			}
			for _, p := range procs {
				if n := p.kills.Load(); n != 0 {
					t.Errorf("SoftPurge killed %s %d times", p, n)
				}
			}
			if n := tg.interrupts.Load(); n != 0 {
				t.Errorf("SoftPurge interrupted calls %d times", n)
			}
			if n := g(tg).InFlight(); n != int64(tc.inFlight) {
				t.Errorf("InFlight = %d, want %d", n, tc.inFlight)
			}

			if tc.want {
				if n := tg.frees.Load(); n != 1 {
					t.Fatalf("Free called %d times, want 1", n)
				}
				if !tg.gate.Closed() || tg.gate.Enter() {
					t.Fatal("gate admits calls after a successful soft purge")
				}
				return
			}

			if n := tg.frees.Load(); n != 0 {
				t.Fatalf("Free called %d times by a refused soft purge", n)
			}
			// The gate is open again: calls get in.
			if tg.gate.Closed() {
				t.Fatal("gate still closed after a refused soft purge")
			}
			c := enter(t, &tg.gate)
			c.leaveNow(t)

			// Once the holders are gone, a soft purge succeeds.
			for _, c := range calls {
				c.leaveNow(t)
			}
			tg.setLingering()
			if !purger.SoftPurge(tg) {
				t.Fatal("SoftPurge refused after every holder left")
			}
			if n := tg.frees.Load(); n != 1 {
				t.Fatalf("Free called %d times, want 1", n)
			}
			if tg.gate.Enter() {
				t.Fatal("gate admits calls after a successful soft purge")
			}
		})
	}
}

func g(t *fakeTarget) *purger.Gate { return t.Gate() }

// TestSoftPurgeThenPurge: a refused soft purge leaves the version in a state
// that a later purge handles normally.
func TestSoftPurgeThenPurge(t *testing.T) {
	tg := &fakeTarget{}
	c := enter(t, &tg.gate)
	for range 3 {
		if purger.SoftPurge(tg) {
			t.Fatal("SoftPurge succeeded with a call in flight")
		}
	}
	var res purger.Result
	var err error
	done := async(func() { res, err = purger.Purge(context.Background(), tg, purger.Options{}) })
	if !blocked(done) {
		t.Fatal("Purge returned with a call in flight")
	}
	if tg.gate.Enter() {
		t.Fatal("Enter admitted a call during a purge")
	}
	c.leaveNow(t)
	waitDone(t, done, "Purge")
	if err != nil {
		t.Fatalf("Purge = %v", err)
	}
	if res != (purger.Result{Waited: 1}) {
		t.Fatalf("Purge result = %+v, want Waited 1", res)
	}
	if n := tg.frees.Load(); n != 1 {
		t.Fatalf("Free called %d times, want 1", n)
	}
}

func TestPurgeNothingHeld(t *testing.T) {
	for _, opts := range []purger.Options{
		{},
		{Interruptible: true},
		{Interruptible: true, Grace: long},
		{Grace: long},
	} {
		t.Run(fmt.Sprintf("%+v", opts), func(t *testing.T) {
			tg := &fakeTarget{}
			start := time.Now()
			res, err := purger.Purge(context.Background(), tg, opts)
			if el := time.Since(start); el >= long {
				t.Fatalf("Purge of an idle version took %v: it waited for the grace", el)
			}
			if err != nil {
				t.Fatalf("Purge = %v", err)
			}
			if res != (purger.Result{}) {
				t.Fatalf("result = %+v, want zero", res)
			}
			if res.KilledAny() {
				t.Fatal("KilledAny true with nothing killed")
			}
			if n := tg.frees.Load(); n != 1 {
				t.Fatalf("Free called %d times, want 1", n)
			}
			if n := tg.interrupts.Load(); n != 0 {
				t.Fatalf("InterruptCalls called %d times with no call in flight", n)
			}
			if tg.gate.Enter() {
				t.Fatal("gate admits calls after a purge")
			}
		})
	}
}

func TestPurgeKillsLingeringProcesses(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprint("procs=", n), func(t *testing.T) {
			tg := &fakeTarget{}
			var procs []*fakeProc
			var ps []purger.Process
			for i := range n {
				p := newProc(fmt.Sprint("p", i), true)
				p.exitDelay = time.Duration(i+1) * 5 * time.Millisecond
				procs = append(procs, p)
				ps = append(ps, p)
			}
			tg.setLingering(ps...)
			tg.onFree = func() {
				for _, p := range procs {
					if !p.exited() {
						t.Errorf("Free called before %s exited", p)
					}
				}
			}
			res, err := purger.Purge(context.Background(), tg, purger.Options{Interruptible: true})
			if err != nil {
				t.Fatalf("Purge = %v", err)
			}
			if res != (purger.Result{Killed: n}) {
				t.Fatalf("result = %+v, want Killed %d", res, n)
			}
			if !res.KilledAny() {
				t.Fatal("KilledAny false")
			}
			for _, p := range procs {
				if k := p.kills.Load(); k != 1 {
					t.Errorf("%s killed %d times, want 1", p, k)
				}
			}
			if k := tg.frees.Load(); k != 1 {
				t.Fatalf("Free called %d times, want 1", k)
			}
		})
	}
}

// TestPurgeWaitsForDone: Purge frees only after every killed process has
// exited.
func TestPurgeWaitsForDone(t *testing.T) {
	tg := &fakeTarget{}
	p := newProc("p", false) // exits only when the test says so
	tg.setLingering(p)
	var res purger.Result
	var err error
	done := async(func() { res, err = purger.Purge(context.Background(), tg, purger.Options{Interruptible: true}) })
	if !blocked(done) {
		t.Fatal("Purge returned before the killed process exited")
	}
	if n := p.kills.Load(); n != 1 {
		t.Fatalf("process killed %d times, want 1", n)
	}
	if n := tg.frees.Load(); n != 0 {
		t.Fatal("Free called before the killed process exited")
	}
	p.exit()
	waitDone(t, done, "Purge")
	if err != nil || res != (purger.Result{Killed: 1}) {
		t.Fatalf("Purge = %+v, %v; want Killed 1, nil", res, err)
	}
	if n := tg.frees.Load(); n != 1 {
		t.Fatalf("Free called %d times, want 1", n)
	}
}

// TestPurgeCallsInFlight: some calls in flight leave on their own a little
// after the purge starts ("early"); the others leave only when interrupted.
// An interruptible purge lets calls finish for the grace period and then
// interrupts the rest; a trusted purge waits for every call.
func TestPurgeCallsInFlight(t *testing.T) {
	const leaveAfter = 2 * short
	tests := []struct {
		name  string
		opts  purger.Options
		calls int
		early int
		want  purger.Result
	}{
		{"interruptible, no grace, one call", purger.Options{Interruptible: true}, 1, 0, purger.Result{Interrupted: 1}},
		{"interruptible, no grace, three calls", purger.Options{Interruptible: true}, 3, 0, purger.Result{Interrupted: 3}},
		{"interruptible, calls end within the grace", purger.Options{Interruptible: true, Grace: long}, 3, 3, purger.Result{Waited: 3}},
		{"interruptible, one call ends within the grace", purger.Options{Interruptible: true, Grace: 20 * short}, 3, 1, purger.Result{Waited: 1, Interrupted: 2}},
		{"interruptible, no call ends within the grace", purger.Options{Interruptible: true, Grace: short}, 2, 0, purger.Result{Interrupted: 2}},
		{"trusted one call", purger.Options{}, 1, 1, purger.Result{Waited: 1}},
		{"trusted three calls", purger.Options{}, 3, 3, purger.Result{Waited: 3}},
		{"trusted ignores the grace", purger.Options{Grace: time.Millisecond}, 2, 2, purger.Result{Waited: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := &fakeTarget{}
			calls := make([]*call, tc.calls)
			for i := range calls {
				calls[i] = enter(t, &tg.gate)
			}
			// The early calls leave a little after the purge has closed the
			// gate (its first look for lingering processes).
			var once sync.Once
			tg.onLingering = func() {
				once.Do(func() {
					time.AfterFunc(leaveAfter, func() {
						for _, c := range calls[:tc.early] {
							c.leave()
						}
					})
				})
			}
			tg.onInterrupt = func() {
				if !tc.opts.Interruptible {
					t.Error("InterruptCalls called in trusted mode")
				}
				for _, c := range calls {
					c.leave()
				}
			}
			tg.onFree = func() {
				if n := tg.gate.InFlight(); n != 0 {
					t.Errorf("Free called with %d calls in flight", n)
				}
			}
			start := time.Now()
			var res purger.Result
			var err error
			waitDone(t, async(func() { res, err = purger.Purge(context.Background(), tg, tc.opts) }), "Purge")
			el := time.Since(start)
			if err != nil {
				t.Fatalf("Purge = %v", err)
			}
			if res != tc.want {
				t.Fatalf("result = %+v, want %+v", res, tc.want)
			}
			if res.Waited > 0 && el < leaveAfter {
				t.Fatalf("Purge returned after %v, before the calls it waited for left", el)
			}
			if tc.opts.Interruptible && tc.opts.Grace > 0 && res.Interrupted > 0 && el < tc.opts.Grace {
				t.Fatalf("Purge interrupted after %v, before the grace of %v", el, tc.opts.Grace)
			}
			if tc.opts.Grace >= long && el >= long {
				t.Fatalf("Purge took %v: it waited for the whole grace after the calls left", el)
			}
			wantInterrupts := int32(0)
			if res.Interrupted > 0 {
				wantInterrupts = 1
			}
			if n := tg.interrupts.Load(); n != wantInterrupts {
				t.Fatalf("InterruptCalls called %d times, want %d", n, wantInterrupts)
			}
			if n := tg.frees.Load(); n != 1 {
				t.Fatalf("Free called %d times, want 1", n)
			}
			for _, c := range calls {
				waitDone(t, c.left, "call")
			}
		})
	}
}

func TestPurgeProcessesAndCalls(t *testing.T) {
	tg := &fakeTarget{}
	p1, p2 := newProc("p1", true), newProc("p2", true)
	tg.setLingering(p1, p2)
	c := enter(t, &tg.gate)
	tg.onInterrupt = c.leave
	res, err := purger.Purge(context.Background(), tg, purger.Options{Interruptible: true})
	if err != nil {
		t.Fatalf("Purge = %v", err)
	}
	if want := (purger.Result{Killed: 2, Interrupted: 1}); res != want {
		t.Fatalf("result = %+v, want %+v", res, want)
	}
	if p1.kills.Load() != 1 || p2.kills.Load() != 1 {
		t.Fatalf("kills p1 %d p2 %d, want 1 each", p1.kills.Load(), p2.kills.Load())
	}
	if n := tg.frees.Load(); n != 1 {
		t.Fatalf("Free called %d times, want 1", n)
	}
}

// TestPurgeLateLingerer: a call in flight when the purge started was a
// process entering the version; once the calls have drained, that process
// lingers too and is killed, and the processes killed first are not killed
// again.
func TestPurgeLateLingerer(t *testing.T) {
	tg := &fakeTarget{}
	p1, p2 := newProc("p1", true), newProc("p2", true)
	tg.lingering = [][]purger.Process{{p1}, {p1, p2}}
	c := enter(t, &tg.gate)
	tg.onInterrupt = c.leave
	tg.onFree = func() {
		if !p1.exited() || !p2.exited() {
			t.Error("Free called before every killed process exited")
		}
	}
	res, err := purger.Purge(context.Background(), tg, purger.Options{Interruptible: true})
	if err != nil {
		t.Fatalf("Purge = %v", err)
	}
	if want := (purger.Result{Killed: 2, Interrupted: 1}); res != want {
		t.Fatalf("result = %+v, want %+v", res, want)
	}
	if p1.kills.Load() != 1 || p2.kills.Load() != 1 {
		t.Fatalf("kills p1 %d p2 %d, want 1 each", p1.kills.Load(), p2.kills.Load())
	}
	if n := tg.frees.Load(); n != 1 {
		t.Fatalf("Free called %d times, want 1", n)
	}
}

func TestPurgeContextExpires(t *testing.T) {
	tests := []struct {
		name      string
		opts      purger.Options
		stuckCall bool // a call that never leaves
		stuckProc bool // a killed process that never exits
		want      purger.Result
	}{
		{"trusted call in flight", purger.Options{}, true, false, purger.Result{Waited: 1}},
		{"interruptible call that does not stop", purger.Options{Interruptible: true}, true, false, purger.Result{Interrupted: 1}},
		{"ctx ends during the grace", purger.Options{Interruptible: true, Grace: long}, true, false, purger.Result{Interrupted: 1}},
		{"killed process that does not exit", purger.Options{Interruptible: true}, false, true, purger.Result{Killed: 1}},
		{"both", purger.Options{}, true, true, purger.Result{Killed: 1, Waited: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := &fakeTarget{}
			var c *call
			if tc.stuckCall {
				c = enter(t, &tg.gate)
				defer c.leave()
			}
			var p *fakeProc
			if tc.stuckProc {
				p = newProc("p", false)
				tg.setLingering(p)
				defer p.exit()
			}
			start := time.Now() // before the deadline is set, so that it cannot come early
			ctx, cancel := context.WithTimeout(context.Background(), 3*short)
			defer cancel()
			var res purger.Result
			var err error
			waitDone(t, async(func() { res, err = purger.Purge(ctx, tg, tc.opts) }), "Purge")
			if err == nil {
				t.Fatal("Purge returned no error with a holder still there")
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Purge error %v does not wrap context.DeadlineExceeded", err)
			}
			if el := time.Since(start); el < 3*short {
				t.Fatalf("Purge gave up after %v, before the deadline", el)
			} else if el >= long {
				t.Fatalf("Purge took %v, past the deadline", el)
			}
			if res != tc.want {
				t.Fatalf("result = %+v, want %+v", res, tc.want)
			}
			// The version is freed anyway, once.
			if n := tg.frees.Load(); n != 1 {
				t.Fatalf("Free called %d times, want 1", n)
			}
			if tc.stuckCall {
				if n := tg.interrupts.Load(); tc.opts.Interruptible && n < 1 {
					t.Fatal("InterruptCalls not called in interruptible mode")
				}
				if n := tg.gate.InFlight(); n != 1 {
					t.Fatalf("InFlight = %d, want 1", n)
				}
				// The stuck call can still leave.
				c.leaveNow(t)
				if n := tg.gate.InFlight(); n != 0 {
					t.Fatalf("InFlight = %d after the call left", n)
				}
			}
			if tc.stuckProc && p.kills.Load() != 1 {
				t.Fatalf("process killed %d times, want 1", p.kills.Load())
			}
			if tg.gate.Enter() {
				t.Fatal("gate admits calls after a purge")
			}
		})
	}
}

func TestResultKilledAny(t *testing.T) {
	tests := []struct {
		res  purger.Result
		want bool
	}{
		{purger.Result{}, false},
		{purger.Result{Interrupted: 2, Waited: 1}, false},
		{purger.Result{Killed: 1}, true},
		{purger.Result{Killed: 5, Interrupted: 1}, true},
	}
	for _, tc := range tests {
		if got := tc.res.KilledAny(); got != tc.want {
			t.Errorf("%+v.KilledAny() = %v, want %v", tc.res, got, tc.want)
		}
	}
}

func TestCheckProcessCode(t *testing.T) {
	p1, p2, p3 := newProc("p1", true), newProc("p2", true), newProc("p3", true)
	tests := []struct {
		name      string
		lingering []purger.Process
		p         purger.Process
		want      bool
	}{
		{"nobody lingers", nil, p1, false},
		{"only it lingers", []purger.Process{p1}, p1, true},
		{"it lingers among others", []purger.Process{p2, p1, p3}, p1, true},
		{"others linger", []purger.Process{p2, p3}, p1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := &fakeTarget{}
			tg.setLingering(tc.lingering...)
			if got := purger.CheckProcessCode(tg, tc.p); got != tc.want {
				t.Fatalf("CheckProcessCode = %v, want %v", got, tc.want)
			}
			// Checking changes nothing.
			if p1.kills.Load()+p2.kills.Load()+p3.kills.Load() != 0 || tg.frees.Load() != 0 || tg.gate.Closed() {
				t.Fatal("CheckProcessCode killed, freed or closed something")
			}
		})
	}
}

// TestPurgeDetach: with Detach, Purge kills and waits for the lingering
// processes, detaches the version and returns while calls are still in
// flight in it; the version is freed only after the last call has left (or
// was interrupted after the grace), and Detached reports that part.
func TestPurgeDetach(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts purger.Options
		want purger.Result // of the detached part
	}{
		{"calls leave", purger.Options{Interruptible: true, Grace: long}, purger.Result{Waited: 2}},
		{"calls interrupted after the grace", purger.Options{Interruptible: true, Grace: short}, purger.Result{Interrupted: 2}},
		{"trusted waits for the calls", purger.Options{}, purger.Result{Waited: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := &fakeTarget{}
			p := newProc("p", true)
			tg.setLingering(p)
			calls := []*call{enter(t, &tg.gate), enter(t, &tg.gate)}
			tg.onInterrupt = func() {
				for _, c := range calls {
					c.leave()
				}
			}
			detached := make(chan purger.Result, 1)
			opts := tc.opts
			opts.Detach = true
			opts.Detached = func(r purger.Result, err error) {
				if err != nil {
					t.Errorf("detached part: %v", err)
				}
				detached <- r
			}
			res, err := purger.Purge(context.Background(), tg, opts)
			if err != nil {
				t.Fatal(err)
			}
			if want := (purger.Result{Killed: 1, Detached: 2}); res != want {
				t.Fatalf("result %+v, want %+v", res, want)
			}
			if !p.exited() {
				t.Fatal("Purge returned before the killed process exited")
			}
			if tg.detaches.Load() != 1 || tg.frees.Load() != 0 {
				t.Fatalf("after Purge: %d detaches, %d frees; want 1, 0", tg.detaches.Load(), tg.frees.Load())
			}
			if tg.gate.Enter() {
				t.Fatal("the detached version admits new calls")
			}
			if tc.want.Waited > 0 {
				for _, c := range calls {
					c.leave()
				}
			}
			select {
			case r := <-detached:
				if r != tc.want {
					t.Fatalf("detached part %+v, want %+v", r, tc.want)
				}
			case <-time.After(long):
				t.Fatal("the detached part did not end")
			}
			if tg.frees.Load() != 1 || tg.gate.InFlight() != 0 {
				t.Fatalf("after the detached part: %d frees, %d in flight; want 1, 0", tg.frees.Load(), tg.gate.InFlight())
			}
		})
	}
}
