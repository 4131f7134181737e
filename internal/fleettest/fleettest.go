// Package fleettest joins hosts of the test process to a fleet, for tests
// (the NATS server: package natstest).
package fleettest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wasmhot/wasmhot/cluster"
	"github.com/wasmhot/wasmhot/host"
)

// Member is a host of the test process joined to a fleet.
type Member struct {
	Name string
	H    *host.Host
	NC   *nats.Conn
	N    *cluster.Node
}

// Join starts a host without a log, connects to the NATS server at url
// and joins the fleet as name, with a heartbeat of 100 ms. Leave runs when
// the test ends.
func Join(t testing.TB, url, name string) *Member {
	t.Helper()
	ctx := context.Background()
	h, err := host.New(ctx, host.NewConfig().WithLog(nil))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		_ = h.Close(ctx)
		t.Fatal(err)
	}
	n, err := cluster.Join(ctx, h, nc, name, cluster.Options{Heartbeat: 100 * time.Millisecond})
	if err != nil {
		nc.Close()
		_ = h.Close(ctx)
		t.Fatal(err)
	}
	m := &Member{Name: name, H: h, NC: nc, N: n}
	t.Cleanup(m.Leave)
	return m
}

// Leave closes the node, its connection and its host.
func (m *Member) Leave() {
	_ = m.N.Close()
	m.NC.Close()
	_ = m.H.Close(context.Background())
}
