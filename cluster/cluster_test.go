package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/natstest"
	"github.com/wasmhot/wasmhot/internal/testmode"
)

var ctx = context.Background()

// fastOpts make heartbeats and expiry quick enough for tests.
// The TTL stays long: under the tight callers of TestCallersDuringReloads
// a heartbeat can wait seconds for a CPU.
var fastOpts = Options{Heartbeat: 100 * time.Millisecond, NodeTTL: 15 * time.Second, PrepareTimeout: 30 * time.Second, FinishTimeout: 30 * time.Second}

// member is a node of a test fleet: its own host and connection.
type member struct {
	t    testing.TB
	name string
	h    *host.Host
	nc   *nats.Conn
	n    *Node
}

// join starts a host with cfg and joins it to the fleet at url.
func join(t testing.TB, url, name string, cfg host.Config) *member {
	t.Helper()
	h, err := host.New(ctx, cfg.WithLog(nil))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Join(ctx, h, nc, name, fastOpts)
	if err != nil {
		nc.Close()
		_ = h.Close(ctx)
		t.Fatal(err)
	}
	m := &member{t: t, name: name, h: h, nc: nc, n: n}
	t.Cleanup(m.stop)
	return m
}

// stop leaves the fleet and closes the host, as a node that shuts down.
func (m *member) stop() {
	_ = m.n.Close()
	m.nc.Close()
	_ = m.h.Close(ctx)
}

// kill drops the node without leaving: its connection closes, its
// heartbeat stays until it expires, as a node that was killed.
func (m *member) kill() {
	m.nc.Close()
	_ = m.n.Close()
	_ = m.h.Close(ctx)
}

func (m *member) version() uint64 {
	m.t.Helper()
	res, err := m.h.Call(ctx, "counter", "version")
	if err != nil {
		m.t.Fatalf("%s: counter:version: %v", m.name, err)
	}
	return res[0]
}

// counterVsn is counter_v1 with version() answering v.
func counterVsn(t testing.TB, v uint32) []byte {
	t.Helper()
	b := append([]byte(nil), guestexamples.Wasm("counter_v1")...)
	i := bytes.Index(b, []byte("VSN!"))
	if i < 0 {
		t.Fatal("counter_v1 has no VSN! marker")
	}
	b[i+4], b[i+5], b[i+6], b[i+7] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	return b
}

func counter(t testing.TB, v uint32) host.Source {
	return host.Source{Name: "counter", Wasm: counterVsn(t, v)}
}

func fleet(t testing.TB, url string, names ...string) []*member {
	t.Helper()
	ms := make([]*member, len(names))
	for i, name := range names {
		ms[i] = join(t, url, name, host.NewConfig())
	}
	return ms
}

func wantVersion(t testing.TB, ms []*member, v uint64) {
	t.Helper()
	for _, m := range ms {
		if got := m.version(); got != v {
			t.Errorf("%s: version() = %d, want %d", m.name, got, v)
		}
	}
}

// TestRolloutBatch: a batch loads on every node as one unit; a reload
// replaces it everywhere; the report and the status say so.
func TestRolloutBatch(t *testing.T) {
	s := natstest.StartNATS(t)
	ms := fleet(t, s.ClientURL(), "a", "b", "c")
	rep, err := ms[0].n.Load(ctx, []host.Source{counter(t, 1), {Name: "test", Wasm: guestexamples.Wasm("test_v1")}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Committed || len(rep.Nodes) != 3 {
		t.Fatalf("report: committed %v, %d nodes", rep.Committed, len(rep.Nodes))
	}
	for _, r := range rep.Nodes {
		if !r.Switched() {
			t.Errorf("%s did not switch: %+v", r.Node, r)
		}
	}
	wantVersion(t, ms, 1)
	for _, m := range ms {
		if _, err := m.h.Which("test"); err != nil {
			t.Errorf("%s: %v", m.name, err)
		}
	}

	// A plain load over old code is refused everywhere: counter v1 is old
	// after v2.
	if _, err := ms[1].n.Load(ctx, []host.Source{counter(t, 2)}, false); err != nil {
		t.Fatal(err)
	}
	wantVersion(t, ms, 2)
	_, err = ms[2].n.Load(ctx, []host.Source{counter(t, 3)}, false)
	if !errors.Is(err, ErrAborted) || !strings.Contains(err.Error(), "not purged") {
		t.Fatalf("load over old code: %v, want aborted (not purged)", err)
	}
	wantVersion(t, ms, 2)
	// With purge it goes through.
	if _, err := ms[2].n.Load(ctx, []host.Source{counter(t, 3)}, true); err != nil {
		t.Fatal(err)
	}
	wantVersion(t, ms, 3)
	// The same bytes again: nothing to load, but a reload still purges
	// the old code everywhere.
	if _, err := ms[0].n.Load(ctx, []host.Source{counter(t, 3)}, true); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if mi, _ := m.h.Which("counter"); mi.Current == nil || mi.Current.Vsn != 3 || mi.Old != nil {
			t.Errorf("%s after reloading the same bytes: current %+v old %+v, want vsn 3 and no old code", m.name, mi.Current, mi.Old)
		}
	}

	st, err := ms[0].n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rollout != nil {
		t.Errorf("a rollout is in flight after all finished: %+v", st.Rollout)
	}
	waitFor(t, func() bool {
		st, err = ms[0].n.Status(ctx)
		if err != nil || len(st.Nodes) != 3 {
			return false
		}
		for _, ns := range st.Nodes {
			if !ns.InSync || !ns.Ready {
				return false
			}
		}
		return true
	})
	if got := st.Desired.Modules["counter"].SHA256; got != sha(counterVsn(t, 3)) {
		t.Errorf("desired counter sha256 %s", got)
	}
}

// TestRolloutRefusedByOneNode: one node's policy refuses a module of the
// batch (WASI, which that node does not grant); no node switches anything.
func TestRolloutRefusedByOneNode(t *testing.T) {
	s := natstest.StartNATS(t)
	a := join(t, s.ClientURL(), "a", host.NewConfig().WithWASI("*"))
	b := join(t, s.ClientURL(), "b", host.NewConfig().WithWASI("*"))
	c := join(t, s.ClientURL(), "c", host.NewConfig())
	ms := []*member{a, b, c}
	if _, err := a.n.Load(ctx, []host.Source{counter(t, 1)}, false); err != nil {
		t.Fatal(err)
	}
	before, err := a.n.desired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := b.n.Load(ctx, []host.Source{counter(t, 2), {Name: "reactor", Wasm: guestexamples.Wasm("wasi_reactor")}}, true)
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("load refused by c: %v, want aborted", err)
	}
	if rep.Committed {
		t.Fatal("an aborted rollout committed")
	}
	for _, r := range rep.Nodes {
		if refused := r.Node == "c"; refused == r.Prepare.OK() {
			t.Errorf("%s prepare: %+v", r.Node, r.Prepare)
		}
	}
	wantVersion(t, ms, 1)
	for _, m := range ms {
		if _, err := m.h.Which("reactor"); !errors.Is(err, host.ErrNotLoaded) {
			t.Errorf("%s has reactor after an aborted rollout: %v", m.name, err)
		}
	}
	after, err := a.n.desired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Revision != before.Revision {
		t.Errorf("the desired versions changed: revision %d -> %d", before.Revision, after.Revision)
	}
	// Nothing stays prepared on the nodes that had prepared.
	waitFor(t, func() bool {
		for _, m := range ms {
			m.n.mu.Lock()
			p := len(m.n.pending)
			m.n.mu.Unlock()
			if p != 0 {
				return false
			}
		}
		return true
	})
}

// TestKilledBetweenPrepareAndFinish: a node dies after it prepared; the
// rollout is decided without it and reports it; restarted, it converges.
func TestKilledBetweenPrepareAndFinish(t *testing.T) {
	s := natstest.StartNATS(t)
	ms := fleet(t, s.ClientURL(), "a", "b", "c")
	if _, err := ms[0].n.Load(ctx, []host.Source{counter(t, 1)}, false); err != nil {
		t.Fatal(err)
	}
	ms[0].n.afterPrepare = func() { ms[2].kill() }
	rep, err := ms[0].n.Load(ctx, []host.Source{counter(t, 2)}, true)
	ms[0].n.afterPrepare = nil
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("rollout with a node killed after prepare: %v, want partial", err)
	}
	if !rep.Committed {
		t.Fatal("not committed")
	}
	for _, r := range rep.Nodes {
		if r.Switched() == (r.Node == "c") {
			t.Errorf("%s: switched %v", r.Node, r.Switched())
		}
	}
	wantVersion(t, ms[:2], 2)
	c := join(t, s.ClientURL(), "c", host.NewConfig())
	if !c.n.Ready() {
		_, failure := c.n.Converged()
		t.Fatalf("restarted node not ready: %s", failure)
	}
	wantVersion(t, []*member{c}, 2)
}

// TestConcurrentRollouts: a rollout started while another runs gets
// ErrBusy; the first one completes and no node runs a mix.
func TestConcurrentRollouts(t *testing.T) {
	s := natstest.StartNATS(t)
	ms := fleet(t, s.ClientURL(), "a", "b", "c")
	var second error
	ms[0].n.afterPrepare = func() {
		_, second = ms[1].n.Load(ctx, []host.Source{counter(t, 20)}, true)
	}
	if _, err := ms[0].n.Load(ctx, []host.Source{counter(t, 10)}, true); err != nil {
		t.Fatal(err)
	}
	ms[0].n.afterPrepare = nil
	if !errors.Is(second, ErrBusy) {
		t.Fatalf("second rollout: %v, want busy", second)
	}
	wantVersion(t, ms, 10)

	// Two at once with no hook: whatever the timing, each one either
	// completes or is refused as busy, and every node ends on one version.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { _, errs[i] = ms[i].n.Load(ctx, []host.Source{counter(t, uint32(30+i))}, true) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !errors.Is(err, ErrBusy) {
			t.Errorf("rollout %d: %v", i, err)
		}
	}
	v := ms[0].version()
	if v != 30 && v != 31 {
		t.Fatalf("version %d after two concurrent rollouts", v)
	}
	wantVersion(t, ms, v)
}

// TestDownDuringTwoRollouts: a node that was down while two rollouts ran
// starts on the latest versions, before it reports ready.
func TestDownDuringTwoRollouts(t *testing.T) {
	s := natstest.StartNATS(t)
	ms := fleet(t, s.ClientURL(), "a", "b", "c")
	if _, err := ms[0].n.Load(ctx, []host.Source{counter(t, 1)}, false); err != nil {
		t.Fatal(err)
	}
	ms[2].stop()
	if _, err := ms[0].n.Load(ctx, []host.Source{counter(t, 2)}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := ms[1].n.Load(ctx, []host.Source{counter(t, 3), {Name: "test", Wasm: guestexamples.Wasm("test_v1")}}, true); err != nil {
		t.Fatal(err)
	}
	c := join(t, s.ClientURL(), "c", host.NewConfig())
	if !c.n.Ready() {
		t.Fatal("not ready after joining")
	}
	wantVersion(t, []*member{c}, 3)
	if mi, err := c.h.Which("test"); err != nil || mi.Current.SHA256 != sha(guestexamples.Wasm("test_v1")) {
		t.Fatalf("test on the restarted node: %+v %v", mi, err)
	}
	// It takes part in the next rollout.
	if _, err := c.n.Load(ctx, []host.Source{counter(t, 4)}, true); err != nil {
		t.Fatal(err)
	}
	wantVersion(t, []*member{ms[0], ms[1], c}, 4)
}

// TestFleetRollback: rollback brings the previous desired version back on
// every node: by a swap where the node still has it as old code, from the
// code store where it was purged.
func TestFleetRollback(t *testing.T) {
	s := natstest.StartNATS(t)
	ms := fleet(t, s.ClientURL(), "a", "b", "c")
	if _, err := ms[0].n.Load(ctx, []host.Source{counter(t, 1)}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ms[0].n.Load(ctx, []host.Source{counter(t, 2)}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := ms[1].h.Purge(ctx, "counter"); err != nil { // b has no old code
		t.Fatal(err)
	}
	if _, err := ms[2].n.Rollback(ctx, "counter"); err != nil {
		t.Fatal(err)
	}
	wantVersion(t, ms, 1)
	for i, m := range ms {
		swapped := m.h.Stats().Rollbacks == 1
		if want := i != 1; swapped != want {
			t.Errorf("%s: swapped %v, want %v", m.name, swapped, want)
		}
	}
	// Rolling back again goes to the version before: 2.
	if _, err := ms[0].n.Rollback(ctx, "counter"); err != nil {
		t.Fatal(err)
	}
	wantVersion(t, ms, 2)
	hist, err := ms[1].n.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, d := range hist {
		ops = append(ops, fmt.Sprintf("%s:%s", d.Op, d.By))
	}
	if got, want := strings.Join(ops, " "), "rollback:a rollback:c reload:a load:a"; got != want {
		t.Errorf("history %q, want %q", got, want)
	}
	if _, err := ms[0].n.Rollback(ctx, "nosuch"); !errors.Is(err, ErrNoPrevious) {
		t.Fatalf("rollback of an unknown module: %v, want no previous", err)
	}
}

// TestClusterPurgeAndDelete: soft purge, purge and delete answer per
// node; a deleted module does not come back on a node that joins later.
func TestClusterPurgeAndDelete(t *testing.T) {
	s := natstest.StartNATS(t)
	ms := fleet(t, s.ClientURL(), "a", "b")
	if _, err := ms[0].n.Load(ctx, []host.Source{{Name: "test", Wasm: guestexamples.Wasm("test_v1")}}, false); err != nil {
		t.Fatal(err)
	}
	pid, err := ms[0].h.Spawn(ctx, "test", "run", []byte("3600000"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ms[0].n.Load(ctx, []host.Source{{Name: "test", Wasm: guestexamples.Wasm("test_v2")}}, true); err != nil {
		t.Fatal(err)
	}
	answers, err := ms[1].n.SoftPurge(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range answers {
		if freed := a.Node != "a"; a.Freed != freed {
			t.Errorf("soft purge on %s: freed %v, want %v", a.Node, a.Freed, freed)
		}
	}
	answers, err = ms[1].n.Purge(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range answers {
		if killed := map[string]int{"a": 1, "b": 0}[a.Node]; a.Killed != killed {
			t.Errorf("purge on %s killed %d, want %d", a.Node, a.Killed, killed)
		}
	}
	if e, err := ms[0].h.Wait(ctx, pid); err != nil || e.Reason != host.Killed {
		t.Fatalf("lingering process: %+v %v", e, err)
	}

	if _, err := ms[0].n.Delete(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if _, err := m.h.Call(ctx, "test", "run"); !errors.Is(err, host.ErrUndef) {
			t.Errorf("%s: call after a fleet delete: %v, want undef", m.name, err)
		}
	}
	c := join(t, s.ClientURL(), "c", host.NewConfig())
	if _, err := c.h.Which("test"); !errors.Is(err, host.ErrNotLoaded) {
		t.Fatalf("a node that joined after the delete has test: %v", err)
	}
	if _, err := ms[0].n.Purge(ctx, "Bad-Name"); !errors.Is(err, host.ErrBadName) {
		t.Fatalf("purge of a bad name: %v", err)
	}
}

// TestChecksumRefused: bytes in the code store whose sha256 is not their
// name are refused by every node; nothing changes.
func TestChecksumRefused(t *testing.T) {
	s := natstest.StartNATS(t)
	ms := fleet(t, s.ClientURL(), "a", "b")
	if _, err := ms[0].n.Load(ctx, []host.Source{counter(t, 1)}, false); err != nil {
		t.Fatal(err)
	}
	// Another module's bytes, of the same size, under v2's name.
	if _, err := ms[0].n.code.PutBytes(ctx, sha(counterVsn(t, 2)), counterVsn(t, 3)); err != nil {
		t.Fatal(err)
	}
	_, err := ms[0].n.Load(ctx, []host.Source{counter(t, 2)}, true)
	if !errors.Is(err, ErrAborted) || !strings.Contains(err.Error(), "sha256 mismatch") {
		t.Fatalf("load of tampered bytes: %v, want aborted (sha256 mismatch)", err)
	}
	wantVersion(t, ms, 1)
}

// TestNodeNames: a bad name and the name of a live node are refused.
func TestNodeNames(t *testing.T) {
	s := natstest.StartNATS(t)
	join(t, s.ClientURL(), "a", host.NewConfig())
	h, err := host.New(ctx, host.NewConfig().WithLog(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := Join(ctx, h, nc, "a", fastOpts); err == nil || !strings.Contains(err.Error(), "already named") {
		t.Fatalf("join under a live node's name: %v", err)
	}
	if _, err := Join(ctx, h, nc, "a.b", fastOpts); !errors.Is(err, ErrBadNodeName) {
		t.Fatalf("join as a.b: %v", err)
	}
}

// TestCallersDuringReloads: four callers per node call in tight loops
// while the fleet reloads the module again and again: no call fails.
func TestCallersDuringReloads(t *testing.T) {
	s := natstest.StartNATS(t)
	ms := fleet(t, s.ClientURL(), "a", "b", "c")
	if _, err := ms[0].n.Load(ctx, []host.Source{counter(t, 1)}, false); err != nil {
		t.Fatal(err)
	}
	// The callers keep both cores busy: each message through NATS waits
	// behind them in the Go scheduler, so each rollout takes seconds here;
	// the long form runs the full 100.
	reloads := testmode.Rounds(5, 100)
	var stop atomic.Bool
	var calls, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for _, m := range ms {
		for range 4 {
			wg.Go(func() {
				for !stop.Load() {
					_, err := m.h.Call(ctx, "counter", "add", 2, 3)
					calls.Add(1)
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v", m.name, err))
					}
				}
			})
		}
	}
	for i := range reloads {
		rep, err := ms[i%3].n.Load(ctx, []host.Source{counter(t, uint32(i+2))}, true)
		if err == nil && len(rep.Nodes) != len(ms) {
			err = fmt.Errorf("%d nodes in the rollout, want %d: %+v", len(rep.Nodes), len(ms), rep.Nodes)
		}
		if err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d calls failed; first: %v", failed.Load(), calls.Load(), firstErr.Load())
	}
	wantVersion(t, ms, uint64(reloads+1))
	t.Logf("%d calls during %d reloads", calls.Load(), reloads)
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestJoinNotConverged: a node that cannot load the fleet's versions joins
// not ready, says why in its heartbeat, is left out of rollouts, and
// becomes ready once the fleet's versions are ones it can run.
func TestJoinNotConverged(t *testing.T) {
	s := natstest.StartNATS(t)
	a := join(t, s.ClientURL(), "a", host.NewConfig().WithWASI("*"))
	if _, err := a.n.Load(ctx, []host.Source{{Name: "reactor", Wasm: guestexamples.Wasm("wasi_reactor")}}, false); err != nil {
		t.Fatal(err)
	}
	c := join(t, s.ClientURL(), "c", host.NewConfig()) // grants no WASI
	if c.n.Ready() {
		t.Fatal("ready without the fleet's modules")
	}
	if _, failure := c.n.Converged(); !strings.Contains(failure, "WASI") {
		t.Fatalf("convergence failure %q, want one about WASI", failure)
	}
	waitFor(t, func() bool {
		st, err := a.n.Status(ctx)
		if err != nil {
			return false
		}
		for _, ns := range st.Nodes {
			if ns.Name == "c" {
				return !ns.Ready && ns.Error != "" && !ns.InSync
			}
		}
		return false
	})
	rep, err := a.n.Load(ctx, []host.Source{counter(t, 1)}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Nodes) != 1 || rep.Nodes[0].Node != "a" {
		t.Fatalf("rollout nodes %+v, want a alone", rep.Nodes)
	}
	if _, err := a.n.Delete(ctx, "reactor"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c.n.Ready)
	wantVersion(t, []*member{a, c}, 1)
}
