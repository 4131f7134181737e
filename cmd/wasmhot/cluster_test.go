package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wasmhot/wasmhot/cluster"
	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/internal/fleettest"
)

// counterWasm is counter_v1 with version() answering v: distinct bytes,
// so a distinct version, for each v.
func counterWasm(t *testing.T, v uint32) []byte {
	t.Helper()
	b := bytes.Clone(guestexamples.Wasm("counter_v1"))
	i := bytes.Index(b, []byte("VSN!"))
	if i < 0 {
		t.Fatal("counter_v1 has no VSN! marker")
	}
	b[i+4], b[i+5], b[i+6], b[i+7] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	return b
}

// freePort returns a TCP port of 127.0.0.1 nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// version is counter:version() on m's host.
func version(t *testing.T, m *fleettest.Member) uint64 {
	t.Helper()
	res, err := m.H.Call(context.Background(), "counter", "version")
	if err != nil {
		t.Fatalf("%s: counter:version(): %v", m.Name, err)
	}
	return res[0]
}

// A fleet of four: `wasmhot serve --nats-embedded` as a subprocess, and
// three hosts of this process joined to its NATS server. The client
// commands' --cluster, through the subprocess's socket, change the code
// of all four; cluster status shows them in sync.
func TestClusterCommands(t *testing.T) {
	tmp := t.TempDir()
	e := &e2e{bin: commandBinary(t), sock: filepath.Join(tmp, "d.sock"), dir: tmp}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	stateDir := filepath.Join(tmp, "state")
	d := e.serveWith(t, "--nats-embedded", addr, "--node", "d", "--state-dir", stateDir)
	waitOutput(t, d.stderr, `joined fleet as d \(ready\)`)
	ms := []*fleettest.Member{fleettest.Join(t, "nats://"+addr, "x"), fleettest.Join(t, "nats://"+addr, "y"), fleettest.Join(t, "nats://"+addr, "z")}

	status := func() cluster.Status {
		t.Helper()
		var st cluster.Status
		if err := json.Unmarshal([]byte(e.cli(t, "cluster", "status", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	// allInSync reports whether the status lists d, x, y and z, ready and
	// in sync.
	allInSync := func(st cluster.Status) bool {
		var names []string
		for _, ns := range st.Nodes {
			if ns.Ready && ns.InSync {
				names = append(names, ns.Name)
			}
		}
		return strings.Join(names, ",") == "d,x,y,z"
	}
	eventually(t, "four ready nodes", func() bool { return allInSync(status()) })

	// Every node answers version() with want: the in-process ones, and d
	// through wasmhot call.
	wantVersion := func(want uint64) {
		t.Helper()
		for _, m := range ms {
			if got := version(t, m); got != want {
				t.Errorf("%s: counter:version() = %d, want %d", m.Name, got, want)
			}
		}
		if got := strings.TrimSpace(e.cli(t, "call", "counter", "version")); got != strconv.FormatUint(want, 10) {
			t.Errorf("d: wasmhot call counter version = %q, want %d", got, want)
		}
	}
	counter := filepath.Join(tmp, "counter.wasm")
	write := func(v uint32) {
		t.Helper()
		if err := os.WriteFile(counter, counterWasm(t, v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantSwitched := func(what, out string) {
		t.Helper()
		for _, n := range []string{"d", "x", "y", "z"} {
			if !strings.Contains(out, "\n"+n+": switched\n") && !strings.HasPrefix(out, n+": switched\n") {
				t.Errorf("%s: node %s did not switch:\n%s", what, n, out)
			}
		}
		if !strings.Contains(out, "prepare ") || !strings.Contains(out, "finish ") {
			t.Errorf("%s: no phase times:\n%s", what, out)
		}
	}

	// A batch: counter and test load together on all four.
	write(1)
	wantSwitched("load v1", e.cli(t, "load", "--cluster", counter, writeWasm(t, tmp, "test", "test_v1")))
	wantVersion(1)
	for _, m := range ms {
		if _, err := m.H.Which("test"); err != nil {
			t.Errorf("%s: test after the batch: %v", m.Name, err)
		}
	}
	if !strings.Contains(e.cli(t, "modules"), "test") {
		t.Error("d: no module test after the batch")
	}
	write(2)
	wantSwitched("load v2", e.cli(t, "load", "--cluster", counter))
	wantVersion(2)
	eventually(t, "four nodes in sync on v2", func() bool { return allInSync(status()) })
	st := status()
	if len(st.Nodes) != 4 {
		t.Fatalf("status lists %d nodes, want 4: %+v", len(st.Nodes), st.Nodes)
	}
	if st.Desired == nil || st.Desired.Modules["counter"].SHA256 != sha256Hex(counterWasm(t, 2)) {
		t.Errorf("desired versions: %+v, want counter v2", st.Desired)
	}
	human := e.cli(t, "cluster", "status")
	if !strings.Contains(human, "d: ready, seen ") || !strings.Contains(human, "in sync; counter vsn 2") || !strings.Contains(human, "desired (rollout ") {
		t.Errorf("cluster status:\n%s", human)
	}

	// v1 is old code everywhere: a load without --purge is refused by
	// every node, exits 1, and changes nothing.
	write(3)
	code, out, errOut := e.run(t, "load", "--cluster", counter)
	if code != 1 || !strings.Contains(errOut, "wasmhot: cluster load counter: aborted: 4 of 4 nodes refused") || !strings.Contains(out, "d: refused: counter: not purged") {
		t.Errorf("load over old code: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	wantVersion(2)

	// The fleet goes back to v1 (still old code on every node).
	wantSwitched("rollback", e.cli(t, "rollback", "--cluster", "counter"))
	wantVersion(1)
	eventually(t, "four nodes in sync on v1", func() bool { return allInSync(status()) })
	if got := status().Desired.Modules["counter"].SHA256; got != sha256Hex(counterWasm(t, 1)) {
		t.Errorf("desired counter after the rollback: sha256 %s, want v1's", got)
	}

	// Bad input changes nothing.
	for _, cmd := range []string{"load", "rollback", "purge", "soft-purge", "delete"} {
		arg := "Counter"
		if cmd == "load" {
			arg = writeWasm(t, tmp, "Counter", "counter_v1")
		}
		code, _, errOut := e.run(t, cmd, "--cluster", arg)
		if code != 1 || !strings.Contains(errOut, `"Counter"`) || !strings.Contains(errOut, "not a module name") && !strings.Contains(errOut, "bad name") {
			t.Errorf("%s --cluster with a bad name: exit %d, stderr %q", cmd, code, errOut)
		}
	}
	if code, _, errOut := e.run(t, "rollback", "--cluster", "nosuch"); code != 1 || !strings.Contains(errOut, "no previous") {
		t.Errorf("rollback of an unknown module: exit %d, stderr %q", code, errOut)
	}
	wantVersion(1)

	for _, m := range ms {
		m.Leave()
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("serve exit %d on SIGTERM; stderr:\n%s", code, d.stderr)
	}

	// The embedded server kept the fleet in STATE_DIR/nats: d, started
	// again alone, loads the fleet's version (v1) when it joins.
	d = e.serveWith(t, "--nats-embedded", addr, "--node", "d", "--state-dir", stateDir)
	waitOutput(t, d.stderr, `joined fleet as d \(ready\)`)
	if got := strings.TrimSpace(e.cli(t, "call", "counter", "version")); got != "1" {
		t.Errorf("d after a restart: wasmhot call counter version = %q, want 1", got)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("restarted serve exit %d on SIGTERM; stderr:\n%s", code, d.stderr)
	}
}

// A node not in a fleet refuses the fleet's commands, and serve refuses
// contradictory fleet flags.
func TestClusterCommandsRefused(t *testing.T) {
	n := startNode(t, t.TempDir())
	code, _, errOut := n.try(t, "cluster", "status")
	if code != 1 || !strings.Contains(errOut, "wasmhot: cluster status: no cluster: this node is not in a fleet") {
		t.Errorf("cluster status on a node without a fleet: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = n.try(t, "purge", "--cluster", "a")
	if code != 1 || !strings.Contains(errOut, "no cluster") {
		t.Errorf("purge --cluster on a node without a fleet: exit %d, stderr %q", code, errOut)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, args := range [][]string{
		{"serve", "--cluster", "nats://127.0.0.1:4222", "--nats-embedded", "127.0.0.1:0"},
		{"serve", "--node", "a"},
		{"serve", "--nats-embedded", "127.0.0.1:0", "--node", "a.b"},
		{"serve", "--nats-embedded", "nope"},
		{"serve", "--cluster", "nats://127.0.0.1:4222", "--nats-tls-cert", "c.pem"},
		{"serve", "--nats-embedded", "127.0.0.1:0", "--nats-creds", "user.creds"},
		{"load", "--cluster", "--sticky", "a.wasm"},
	} {
		if code, _, errOut := runArgs(t, ctx, args...); code != 2 {
			t.Errorf("wasmhot %s: exit %d, stderr %q; want a usage error", strings.Join(args, " "), code, errOut)
		}
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
