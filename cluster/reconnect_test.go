package cluster

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/natstest"
)

// proxy forwards TCP connections to a NATS server until cut: then it
// closes them and refuses new ones until restored, as a network
// partition between one node and the server.
type proxy struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			_ = c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
		go func() { _, _ = io.Copy(c, s); _ = c.Close() }()
	}
}

func (p *proxy) cut() {
	p.down.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *proxy) url() string { return "nats://" + p.ln.Addr().String() }

// TestReconnectConverges: a node cut off from NATS is left out of a
// rollout (it is not connected, which is not a refusal); once it
// reconnects it converges to the desired versions on its own.
func TestReconnectConverges(t *testing.T) {
	s := natstest.StartNATS(t)
	ms := fleet(t, s.ClientURL(), "a", "b")
	target := s.ClientURL()[len("nats://"):]
	px := newProxy(t, target)

	h, err := host.New(ctx, host.NewConfig().WithLog(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	nc, err := nats.Connect(px.url(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c, err := Join(ctx, h, nc, "c", fastOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cm := &member{t: t, name: "c", h: h, nc: nc, n: c}

	if _, err := ms[0].n.Load(ctx, []host.Source{counter(t, 1)}, false); err != nil {
		t.Fatal(err)
	}
	wantVersion(t, append(ms, cm), 1)

	px.cut()
	waitFor(t, func() bool { return nc.Status() != nats.CONNECTED })
	rep, err := ms[0].n.Load(ctx, []host.Source{counter(t, 2)}, true)
	if err != nil {
		t.Fatalf("rollout with c cut off: %v", err)
	}
	for _, r := range rep.Nodes {
		if r.Node == "c" && (!r.Prepare.Gone || r.Finish != nil) {
			t.Errorf("c in the rollout: %+v", r)
		}
	}
	wantVersion(t, ms, 2)
	wantVersion(t, []*member{cm}, 1) // cut off: still the version it had

	px.down.Store(false)
	waitFor(t, func() bool {
		res, err := h.Call(ctx, "counter", "version")
		return err == nil && res[0] == 2
	})
	if _, failure := c.Converged(); failure != "" {
		t.Errorf("after reconnecting: %s", failure)
	}
	if _, err := ms[1].n.Load(ctx, []host.Source{counter(t, 3)}, true); err != nil {
		t.Fatalf("rollout after c reconnected: %v", err)
	}
	wantVersion(t, append(ms, cm), 3)
}
