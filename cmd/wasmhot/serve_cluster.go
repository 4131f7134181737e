package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/cluster"
	"github.com/wasmhot/wasmhot/cluster/natsembed"
	"github.com/wasmhot/wasmhot/host"
)

// fleetConfig is how `wasmhot serve` joins a fleet: the NATS servers (or
// an embedded one), the node's name, and the connection's credentials.
type fleetConfig struct {
	url      string // --cluster
	embedded string // --nats-embedded HOST:PORT
	name     string
	creds    string
	tlsCert  string
	tlsKey   string
	tlsCA    string
}

// fleetFlags reads serve's fleet flags: nil when the node joins no fleet.
// Contradictory or malformed flags are usage errors.
func fleetFlags(c *cli.Context) (*fleetConfig, error) {
	f := &fleetConfig{
		url: c.String("cluster"), embedded: c.String("nats-embedded"), name: c.String("node"),
		creds: c.String("nats-creds"), tlsCert: c.String("nats-tls-cert"), tlsKey: c.String("nats-tls-key"), tlsCA: c.String("nats-tls-ca"),
	}
	if f.url == "" && f.embedded == "" {
		for _, flag := range []string{"node", "nats-creds", "nats-tls-cert", "nats-tls-key", "nats-tls-ca"} {
			if c.IsSet(flag) {
				return nil, usageError(c, "--"+flag+" goes with --cluster NATS_URL or --nats-embedded HOST:PORT")
			}
		}
		return nil, nil
	}
	if f.url != "" && f.embedded != "" {
		return nil, usageError(c, "--cluster and --nats-embedded: give one (the node joins the embedded server itself)")
	}
	if f.embedded != "" {
		if _, _, err := net.SplitHostPort(f.embedded); err != nil {
			return nil, usageError(c, fmt.Sprintf("--nats-embedded %q: want HOST:PORT", f.embedded))
		}
		for _, flag := range []string{"nats-creds", "nats-tls-cert", "nats-tls-key", "nats-tls-ca"} {
			if c.IsSet(flag) {
				return nil, usageError(c, "--"+flag+" goes with --cluster: the embedded NATS server has no authentication or TLS")
			}
		}
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return nil, usageError(c, "--nats-tls-cert and --nats-tls-key go together")
	}
	if c.IsSet("node") {
		if err := cluster.CheckNodeName(f.name); err != nil {
			return nil, usageError(c, fmt.Sprintf("--node %q: want 1 to 64 letters, digits, '_' or '-'", f.name))
		}
	} else {
		f.name = defaultNodeName()
	}
	return f, nil
}

// defaultNodeName is the host name, its characters that a node name does
// not allow made '-' ("web1.example.com" is "web1-example-com").
func defaultNodeName() string {
	hn, err := os.Hostname()
	if err != nil || hn == "" {
		return "wasmhot"
	}
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '-'
	}, hn)
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}

// joinFleet joins the fleet the flags name, starting the embedded NATS
// server first if asked: it returns the membership (nil without a fleet)
// and leave, which closes the membership, then the connection, then the
// embedded server.
func (n *node) joinFleet(ctx context.Context, h *host.Host) (member *cluster.Node, leave func(), err error) {
	f := n.fleet
	if f == nil {
		return nil, func() {}, nil
	}
	var stack []func()
	leave = func() {
		for i := len(stack) - 1; i >= 0; i-- {
			stack[i]()
		}
	}
	defer func() {
		if err != nil {
			leave()
		}
	}()
	url := f.url
	if f.embedded != "" {
		dir := ""
		if n.stateDir != "" {
			dir = filepath.Join(n.stateDir, "nats")
		}
		srv, err := natsembed.Start(natsembed.Options{Addr: f.embedded, StoreDir: dir})
		if err != nil {
			return nil, leave, fmt.Errorf("--nats-embedded %s: %w", f.embedded, err)
		}
		stack = append(stack, srv.Shutdown)
		url = srv.ClientURL()
		n.say(slog.LevelInfo, "NATS server with JetStream listening on %s", url)
		if !isLoopback(f.embedded) {
			n.say(slog.LevelWarn, "the embedded NATS server on %s has no authentication: whoever reaches it can load code into the fleet", f.embedded)
		}
	}
	nc, err := nats.Connect(url, n.natsOptions(f)...)
	if errors.Is(err, nats.ErrNoServers) {
		err = fmt.Errorf("%w (is a NATS server with JetStream running there? or use --nats-embedded)", err)
	}
	if err != nil {
		return nil, leave, fmt.Errorf("--cluster %s: %w", url, err)
	}
	stack = append(stack, nc.Close)
	member, err = cluster.Join(ctx, h, nc, f.name, cluster.Options{Logger: n.logger})
	if err != nil {
		return nil, leave, err
	}
	stack = append(stack, func() { _ = member.Close() })
	state := "ready"
	if !member.Ready() {
		_, failure := member.Converged()
		state = "not ready: " + failure
	}
	n.say(slog.LevelInfo, "joined fleet as %s (%s)", f.name, state)
	return member, leave, nil
}

// natsOptions are the options of the node's connection to NATS: named
// after the node, reconnecting for ever (the node converges again after a
// reconnect), with the credentials the flags give.
func (n *node) natsOptions(f *fleetConfig) []nats.Option {
	opts := []nats.Option{
		nats.Name("wasmhot " + f.name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				n.say(slog.LevelWarn, "disconnected from NATS: %v", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			n.say(slog.LevelInfo, "reconnected to NATS at %s", nc.ConnectedUrlRedacted())
		}),
	}
	if f.creds != "" {
		opts = append(opts, nats.UserCredentials(f.creds))
	}
	if f.tlsCert != "" {
		opts = append(opts, nats.ClientCert(f.tlsCert, f.tlsKey))
	}
	if f.tlsCA != "" {
		opts = append(opts, nats.RootCAs(f.tlsCA))
	}
	return opts
}
