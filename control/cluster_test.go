package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wasmhot/wasmhot/cluster"
	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/fleettest"
	"github.com/wasmhot/wasmhot/internal/natstest"
)

// fleetServer is a control server of a host joined to a fleet.
type fleetServer struct {
	name string
	h    *host.Host
	cl   *Client
}

// joinServer starts a host, joins it to the fleet at url as name, and
// serves its control API on a Unix socket.
func joinServer(t *testing.T, url, name string) *fleetServer {
	t.Helper()
	m := fleettest.Join(t, url, name)
	h, n := m.H, m.N
	ctx, cancel := context.WithCancel(context.Background())
	sock := filepath.Join(t.TempDir(), "n.sock")
	ln, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- NewServer(Options{Host: h, Cluster: n}).Serve(ctx, ln, "") }()
	cl, err := Dial(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		cl.Close()
	})
	return &fleetServer{name: name, h: h, cl: cl}
}

// counterVsn is counter_v1 with version() answering v.
func counterVsn(t *testing.T, v uint32) []byte {
	t.Helper()
	b := bytes.Clone(wasm("counter_v1"))
	i := bytes.Index(b, []byte("VSN!"))
	if i < 0 {
		t.Fatal("counter_v1 has no VSN! marker")
	}
	b[i+4], b[i+5], b[i+6], b[i+7] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	return b
}

// wantCounter fails the test unless every server's counter:version()
// answers v.
func wantCounter(t *testing.T, ss []*fleetServer, v uint64) {
	t.Helper()
	for _, s := range ss {
		res, err := s.h.Call(context.Background(), "counter", "version")
		if err != nil || len(res) != 1 || res[0] != v {
			t.Errorf("%s: counter:version() = %v, %v; want %d", s.name, res, err, v)
		}
	}
}

// wantSwitched fails the test unless the report shows every node of ss
// switched.
func wantSwitched(t *testing.T, what string, rep *cluster.Report, ss []*fleetServer) {
	t.Helper()
	if rep == nil || !rep.Committed || len(rep.Nodes) != len(ss) {
		t.Fatalf("%s: report %+v; want committed on %d nodes", what, rep, len(ss))
	}
	for _, r := range rep.Nodes {
		if !r.Switched() {
			t.Errorf("%s: %s did not switch: %+v", what, r.Node, r)
		}
	}
}

// The fleet's endpoints through one node's control API: loads, a refused
// load's report, purge, rollback, soft purge and delete reach every node;
// a rollout in flight refuses another; bad names change nothing.
func TestClusterEndpoints(t *testing.T) {
	ns := natstest.StartNATS(t)
	ctx := ctxT(t)
	a, b := joinServer(t, ns.ClientURL(), "a"), joinServer(t, ns.ClientURL(), "b")
	ss := []*fleetServer{a, b}
	waitUntil(t, func() bool {
		st, err := a.cl.ClusterStatus(ctx)
		return err == nil && len(st.Nodes) == 2 && st.Nodes[0].Ready && st.Nodes[1].Ready
	})

	rep, err := a.cl.ClusterLoad(ctx, ClusterLoadRequest{Modules: []ModuleSource{{"counter", counterVsn(t, 1)}}})
	if err != nil {
		t.Fatal(err)
	}
	wantSwitched(t, "load v1", rep, ss)
	wantCounter(t, ss, 1)
	// Through the other node: any node coordinates.
	if rep, err = b.cl.ClusterLoad(ctx, ClusterLoadRequest{Modules: []ModuleSource{{"counter", counterVsn(t, 2)}}}); err != nil {
		t.Fatal(err)
	}
	wantSwitched(t, "load v2", rep, ss)
	wantCounter(t, ss, 2)

	// v1 is old code on both: a load without purge is refused by both,
	// answered with the report (HTTP 200), and nothing changes.
	rep, err = a.cl.ClusterLoad(ctx, ClusterLoadRequest{Modules: []ModuleSource{{"counter", counterVsn(t, 3)}}})
	if e := wantCode(t, "load v3 over old code", err, CodeAborted); e != nil && e.Status != http.StatusOK {
		t.Errorf("aborted rollout: status %d, want 200 with the report", e.Status)
	}
	if rep == nil || rep.Committed || len(rep.Nodes) != 2 {
		t.Fatalf("aborted rollout's report: %+v", rep)
	}
	for _, r := range rep.Nodes {
		if r.Prepare.OK() || !strings.Contains(r.Prepare.Err, "not purged") || r.Switched() {
			t.Errorf("%s: prepare %+v, want refused (not purged)", r.Node, r.Prepare)
		}
	}
	wantCounter(t, ss, 2)

	answers, err := a.cl.ClusterPurge(ctx, "counter")
	if err != nil || len(answers) != 2 {
		t.Fatalf("cluster purge: %+v, %v", answers, err)
	}
	for _, ans := range answers {
		if !ans.OK() {
			t.Errorf("purge on %s: %s", ans.Node, ans.Err)
		}
	}
	for _, s := range ss {
		if mi, err := s.h.Which("counter"); err != nil || mi.Old != nil {
			t.Errorf("%s after the fleet purge: %+v, %v; want no old code", s.name, mi, err)
		}
	}

	// The fleet rolls back to v1, loaded again from the code store.
	rep, err = b.cl.ClusterRollback(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	wantSwitched(t, "rollback", rep, ss)
	wantCounter(t, ss, 1)
	// v2 is old code now: soft purge frees it, nothing lingers.
	answers, err = b.cl.ClusterSoftPurge(ctx, "counter")
	if err != nil || len(answers) != 2 {
		t.Fatalf("cluster soft purge: %+v, %v", answers, err)
	}
	for _, ans := range answers {
		if !ans.OK() || !ans.Freed {
			t.Errorf("soft purge on %s: %+v, want freed", ans.Node, ans)
		}
	}

	// Refused before a rollout: no earlier version, a bad name.
	_, err = a.cl.ClusterRollback(ctx, "nosuch")
	wantCode(t, "rollback of a module never loaded", err, CodeNoPrevious)
	before, err := a.cl.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		what string
		do   func() error
	}{
		{"load Bad!", func() error {
			_, err := a.cl.ClusterLoad(ctx, ClusterLoadRequest{Modules: []ModuleSource{{"Bad!", counterVsn(t, 9)}}})
			return err
		}},
		{"load ../counter", func() error {
			_, err := a.cl.ClusterLoad(ctx, ClusterLoadRequest{Modules: []ModuleSource{{"counter", counterVsn(t, 9)}, {"../counter", counterVsn(t, 9)}}, Purge: true})
			return err
		}},
		{"rollback ../x", func() error { _, err := a.cl.ClusterRollback(ctx, "counter", "../x"); return err }},
		{"delete Counter", func() error { _, err := a.cl.ClusterDelete(ctx, "Counter"); return err }},
		{"purge empty", func() error { _, err := a.cl.ClusterPurge(ctx, ""); return err }},
		{"soft-purge x y", func() error { _, err := a.cl.ClusterSoftPurge(ctx, "x y"); return err }},
		{"local rollback A", func() error { _, err := a.cl.Rollback(ctx, "A"); return err }},
	}
	for _, c := range bad {
		wantCode(t, c.what, c.do(), CodeBadName)
	}
	after, err := a.cl.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Desired.Rollout != before.Desired.Rollout || after.Desired.Revision != before.Desired.Revision {
		t.Errorf("refused requests changed the desired versions: %+v, was %+v", after.Desired, before.Desired)
	}
	wantCounter(t, ss, 1)

	// A rollout in flight (its lock held) refuses another; the status
	// shows it.
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, "wasmhot_fleet")
	if err != nil {
		t.Fatal(err)
	}
	lock, _ := json.Marshal(cluster.Lock{Rollout: "feedface", Op: cluster.OpLoad, By: "elsewhere", Modules: []string{"counter"},
		Started: time.Now(), Expires: time.Now().Add(time.Hour)})
	rev, err := kv.Create(ctx, "rollout", lock)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.cl.ClusterLoad(ctx, ClusterLoadRequest{Modules: []ModuleSource{{"counter", counterVsn(t, 4)}}, Purge: true})
	if e := wantCode(t, "load during a rollout", err, CodeRolloutInFlight); e != nil && e.Status != http.StatusConflict {
		t.Errorf("rollout in flight: status %d, want 409", e.Status)
	}
	_, err = b.cl.ClusterDelete(ctx, "counter")
	wantCode(t, "delete during a rollout", err, CodeRolloutInFlight)
	if st, err := b.cl.ClusterStatus(ctx); err != nil || st.Rollout == nil || st.Rollout.Rollout != "feedface" {
		t.Errorf("status during a rollout: %+v, %v; want rollout feedface", st, err)
	}
	if err := kv.Delete(ctx, "rollout", jetstream.LastRevision(rev)); err != nil {
		t.Fatal(err)
	}
	wantCounter(t, ss, 1)

	// Delete: no node has current code for counter, and the desired
	// versions say it is deleted.
	rep, err = a.cl.ClusterDelete(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Committed || len(rep.Nodes) != 2 {
		t.Fatalf("delete report: %+v", rep)
	}
	// A node may have deleted it already when its finish comes: it saw
	// the decision first.
	for _, r := range rep.Nodes {
		if r.Finish == nil || !r.Finish.OK() {
			t.Errorf("delete on %s: %+v", r.Node, r.Finish)
		}
	}
	for _, s := range ss {
		if _, err := s.h.Call(ctx, "counter", "version"); !errors.Is(err, host.ErrUndef) {
			t.Errorf("%s: counter:version() after the fleet delete: %v, want undef", s.name, err)
		}
	}
	st, err := a.cl.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rec := st.Desired.Modules["counter"]; !rec.Deleted {
		t.Errorf("desired counter after delete: %+v", rec)
	}

	// The deleted version is each node's old code (code:delete): a local
	// rollback brings it back on that node alone; then there is no old
	// code left to roll back to.
	if _, err := a.cl.Rollback(ctx, "counter"); err != nil {
		t.Fatalf("local rollback after the fleet's delete: %v", err)
	}
	if _, err := a.h.Call(ctx, "counter", "version"); err != nil {
		t.Errorf("a: counter:version() after the local rollback: %v", err)
	}
	_, err = a.cl.Rollback(ctx, "counter")
	wantCode(t, "a second local rollback", err, CodeNoOld)
}

// A node not in a fleet answers the fleet's endpoints with no_cluster and
// changes nothing; its local rollback works.
func TestNoCluster(t *testing.T) {
	s := newTestServer(t, Options{})
	ctx := ctxT(t)
	cl := s.cl
	c1, c2 := counterVsn(t, 1), counterVsn(t, 2)
	for _, b := range [][]byte{c1, c2} {
		if _, err := cl.Load(ctx, LoadRequest{Modules: []ModuleSource{{"counter", b}}}); err != nil {
			t.Fatal(err)
		}
	}
	calls := []struct {
		what string
		do   func() error
	}{
		{"load", func() error {
			_, err := cl.ClusterLoad(ctx, ClusterLoadRequest{Modules: []ModuleSource{{"counter", counterVsn(t, 3)}}, Purge: true})
			return err
		}},
		{"rollback", func() error { _, err := cl.ClusterRollback(ctx, "counter"); return err }},
		{"delete", func() error { _, err := cl.ClusterDelete(ctx, "counter"); return err }},
		{"purge", func() error { _, err := cl.ClusterPurge(ctx, "counter"); return err }},
		{"soft-purge", func() error { _, err := cl.ClusterSoftPurge(ctx, "counter"); return err }},
		{"status", func() error { _, err := cl.ClusterStatus(ctx); return err }},
	}
	for _, c := range calls {
		e := wantCode(t, "cluster "+c.what, c.do(), CodeNoCluster)
		if e != nil && (e.Status != http.StatusNotFound || !strings.Contains(e.Message, "not in a fleet")) {
			t.Errorf("cluster %s: %d %q", c.what, e.Status, e.Message)
		}
	}
	mi, err := s.h.Which("counter")
	if err != nil || mi.Current == nil || mi.Old == nil || mi.Current.Vsn != 2 || mi.Old.Vsn != 1 {
		t.Fatalf("counter after the refused requests: %+v, %v; want vsn 2, old 1", mi, err)
	}

	// The local rollback swaps current and old, both ways.
	m, err := cl.Rollback(ctx, "counter")
	if err != nil || m.Current == nil || m.Old == nil || m.Current.Vsn != 1 || m.Old.Vsn != 2 {
		t.Fatalf("rollback: %+v, %v; want vsn 1 current, 2 old", m, err)
	}
	if res, err := s.h.Call(ctx, "counter", "version"); err != nil || res[0] != 1 {
		t.Errorf("counter:version() after rollback: %v, %v", res, err)
	}
	if ok, err := cl.SoftPurge(ctx, "counter"); err != nil || !ok {
		t.Fatalf("soft purge: %v, %v", ok, err)
	}
	_, err = cl.Rollback(ctx, "counter")
	if e := wantCode(t, "rollback without old code", err, CodeNoOld); e != nil && e.Status != http.StatusConflict {
		t.Errorf("no_old: status %d, want 409", e.Status)
	}
	_, err = cl.Rollback(ctx, "nosuch")
	wantCode(t, "rollback of an unknown module", err, CodeNoOld)
}
