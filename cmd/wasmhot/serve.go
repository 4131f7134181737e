package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/logbuf"
	"github.com/wasmhot/wasmhot/internal/statedir"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run a node that stays up, with a control API for the client commands",
		Description: "Runs a node in this process until SIGINT or SIGTERM; guest log lines go\n" +
			"to stdout. The control API (JSON over HTTP) listens on a Unix socket of\n" +
			"mode 0600: --socket, default $XDG_RUNTIME_DIR/wasmhot.sock, else\n" +
			"./wasmhot.sock. With --listen it also listens on a loopback TCP address\n" +
			"(non-loopback addresses are refused) where every request must carry the\n" +
			"bearer token read from --token-file. On stop the processes are killed\n" +
			"and the socket removed.\n" +
			"\n" +
			"--state-dir DIR persists the bytes of each loaded version (DIR/blobs/\n" +
			"SHA256.wasm) and which version of each module is current, and which are\n" +
			"sticky (DIR/manifest.json, written atomically). A node started on the\n" +
			"same DIR loads the current versions again (with new vsn numbers, the same\n" +
			"sha256); old versions are not restored, as no process can linger in them\n" +
			"after a restart. Compiled code is cached in DIR/compiled, so the restart\n" +
			"does not compile the modules again.\n" +
			"\n" +
			"Node events (each load, failed load, purge, delete, kill and process\n" +
			"exit; at --log-level debug also spawns, upgrades and normal exits) go to\n" +
			"stderr through log/slog, as text or, with --log-format json, as one JSON\n" +
			"object a line, with attributes such as module, vsn, pid, reason and\n" +
			"duration. The control API serves Prometheus metrics on GET /metrics and a\n" +
			"health check on GET /healthz (200 while up, 503 once stopping); --metrics\n" +
			"ADDR serves just those two on a TCP address of their own, without the\n" +
			"token, for a scraper.\n" +
			"\n" +
			"--cluster NATS_URL joins a fleet over NATS JetStream as --node NAME\n" +
			"(default: the host name). The fleet's nodes run the same code versions:\n" +
			"the client commands' --cluster (load, rollback, purge, soft-purge, delete)\n" +
			"change them on every node at once, all or none, as rpc:multicall of\n" +
			"code:atomic_load/1 across connected nodes; wasmhot cluster status lists\n" +
			"them. A node that joins, or comes back, loads the fleet's versions first.\n" +
			"--nats-embedded HOST:PORT runs a NATS server with JetStream in this\n" +
			"process and joins it; other nodes give its address to --cluster. It has\n" +
			"no authentication: whoever reaches HOST:PORT can load code into the\n" +
			"fleet, so keep it on loopback or a private network. In a fleet,\n" +
			"--state-dir keeps the compiled code and the embedded server's store\n" +
			"(DIR/nats; without it, a temporary directory), not a record of the\n" +
			"node's modules: they come from the fleet. --nats-creds FILE,\n" +
			"--nats-tls-cert/--nats-tls-key and --nats-tls-ca authenticate to the\n" +
			"NATS servers of --cluster.\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot serve --socket /tmp/n.sock --state-dir /var/lib/wasmhot --metrics 127.0.0.1:9464\n" +
			"   wasmhot serve --socket /tmp/a.sock --nats-embedded 127.0.0.1:4222 --node a\n" +
			"   wasmhot serve --socket /tmp/b.sock --cluster nats://127.0.0.1:4222 --node b",
		Flags: hostFlags(
			&cli.StringFlag{Name: "socket", Usage: "listen on the Unix socket `PATH` (default $XDG_RUNTIME_DIR/wasmhot.sock, else ./wasmhot.sock)"},
			&cli.StringFlag{Name: "listen", Usage: "also listen on the loopback TCP address `HOST:PORT` (needs --token-file)"},
			&cli.StringFlag{Name: "token-file", Usage: "the bearer token TCP clients must send is in `FILE`"},
			&cli.StringFlag{Name: "state-dir", Usage: "persist loaded code in `DIR` and reload it at start"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "node events on stderr: text or json (guest log lines stay on stdout as they are)"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "node events logged: debug (also spawns, upgrades, normal exits), info, warn or error"},
			&cli.StringFlag{Name: "metrics", Usage: "also serve GET /metrics and GET /healthz, without a token, on the TCP address `HOST:PORT`"},
			&cli.StringFlag{Name: "cluster", Usage: "join the fleet on the NATS server(s) at `NATS_URL` (comma-separated URLs)"},
			&cli.StringFlag{Name: "nats-embedded", Usage: "run a NATS server with JetStream on `HOST:PORT` in this process and join the fleet on it"},
			&cli.StringFlag{Name: "node", Usage: "the node's `NAME` in the fleet: letters, digits, '_' and '-' (default: the host name)"},
			&cli.StringFlag{Name: "nats-creds", Usage: "authenticate to NATS with the credentials `FILE` (JWT and NKey seed)"},
			&cli.StringFlag{Name: "nats-tls-cert", Usage: "client certificate `FILE` for NATS over TLS (with --nats-tls-key)"},
			&cli.StringFlag{Name: "nats-tls-key", Usage: "the private key `FILE` of --nats-tls-cert"},
			&cli.StringFlag{Name: "nats-tls-ca", Usage: "verify the NATS servers' certificates with the CA certificates in `FILE`"},
		),
		Action: func(c *cli.Context) error {
			if _, err := exactArgs(c, 0); err != nil {
				return err
			}
			cfg, err := hostConfig(c)
			if err != nil {
				return err
			}
			if (c.String("listen") == "") != (c.String("token-file") == "") {
				return usageError(c, "--listen and --token-file go together: TCP clients must authenticate")
			}
			if l := c.String("listen"); l != "" && !isLoopback(l) {
				return usageError(c, fmt.Sprintf("--listen %q: want a loopback HOST:PORT (127.0.0.1, ::1 or localhost): non-loopback addresses are refused, as the control API loads and runs code", l))
			}
			if m := c.String("metrics"); m != "" {
				if _, _, err := net.SplitHostPort(m); err != nil {
					return usageError(c, fmt.Sprintf("--metrics %q: want HOST:PORT", m))
				}
			}
			jsonLog, level, err := logFlags(c.String("log-format"), c.String("log-level"))
			if err != nil {
				return usageError(c, err.Error())
			}
			fleet, err := fleetFlags(c)
			if err != nil {
				return err
			}
			n := &node{
				fleet:  fleet,
				socket: c.String("socket"), listen: c.String("listen"), tokenFile: c.String("token-file"),
				stateDir: c.String("state-dir"), codePath: c.StringSlice("code-path"), metrics: c.String("metrics"),
				stdout: &lockedWriter{w: c.App.Writer}, stderr: &lockedWriter{w: c.App.ErrWriter},
				jsonLog: jsonLog,
			}
			events := logbuf.New(n.stderr, eventQueueBytes)
			defer events.Close(time.Second) // the last lines, unless stderr is stuck
			n.events, n.logger = events, newLogger(events, jsonLog, level)
			return n.serve(c.Context, cfg.WithLogger(n.logger))
		},
	}
}

// isLoopback reports whether addr is HOST:PORT with a loopback HOST, as
// control.ListenTCP wants.
func isLoopback(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// node is one `wasmhot serve`.
type node struct {
	socket, listen, tokenFile, stateDir string
	metrics                             string // --metrics address, or ""
	codePath                            []string
	stdout, stderr                      io.Writer
	// events queues the lines of node events and messages on their way
	// to stderr; logger logs node events to it; with jsonLog the node's
	// own messages go through the logger too (say).
	events  io.Writer
	logger  *slog.Logger
	jsonLog bool
	// fleet is how the node joins a fleet (serve_cluster.go); nil: it
	// does not.
	fleet *fleetConfig
}

func (n *node) serve(ctx context.Context, cfg host.Config) (err error) {
	if (n.listen == "") != (n.tokenFile == "") {
		return errors.New("serve: --listen and --token-file go together: TCP clients must authenticate")
	}
	token := ""
	if n.tokenFile != "" {
		if token, err = control.ReadToken(n.tokenFile); err != nil {
			return err
		}
		if fi, err := os.Stat(n.tokenFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			n.say(slog.LevelWarn, "token file %s is readable by others (mode %v); chmod 600 it", n.tokenFile, fi.Mode().Perm())
		}
	}
	if n.socket == "" {
		n.socket = control.DefaultSocket()
	}
	var store *statedir.Store
	if n.stateDir != "" {
		if store, err = statedir.Open(n.stateDir, n.codePath); err != nil {
			return err
		}
		defer store.Close()
		if fi, err := os.Stat(n.stateDir); err == nil && fi.Mode().Perm()&0o022 != 0 {
			n.say(slog.LevelWarn, "state dir %s is writable by others (mode %v): they can change the code this node loads; chmod 700 it", n.stateDir, fi.Mode().Perm())
		}
		// Compiled code survives restarts too: a restarted node reloads
		// its modules without compiling them again.
		cfg = cfg.WithCompilationCacheDir(filepath.Join(n.stateDir, "compiled"))
	}
	hub := control.NewHub(n.stdout, 0)
	defer hub.Close()
	h, err := host.New(ctx, cfg.WithLog(hub))
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if cerr := h.Close(cctx); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	persist := store
	if n.fleet != nil {
		// In a fleet the node loads the fleet's versions when it joins:
		// the state directory keeps the compiled code (and the embedded
		// NATS server's store), not a manifest of its own.
		persist = nil
	}
	if err := n.restore(ctx, h, persist); err != nil {
		return err
	}
	member, leave, err := n.joinFleet(ctx, h)
	if err != nil {
		return err
	}
	defer leave()
	srv := control.NewServer(control.Options{Host: h, Logs: hub, State: persist, ErrorLog: n.stderr, Cluster: member})
	return n.listenAndServe(ctx, srv, token)
}

// restore loads the current versions recorded in the state directory.
func (n *node) restore(ctx context.Context, h *host.Host, store *statedir.Store) error {
	if store == nil {
		return nil
	}
	srcs, err := store.Boot()
	if err != nil {
		return err
	}
	if len(srcs) > 0 {
		if err := h.AtomicLoad(ctx, srcs...); err != nil {
			return fmt.Errorf("state dir %s: restoring modules: %w", n.stateDir, err)
		}
		n.say(slog.LevelInfo, "restored %d module(s) from %s", len(srcs), n.stateDir)
	}
	return store.Sync(h.Modules())
}

// listenAndServe serves on the socket (and the TCP address) until ctx ends
// or a listener fails.
func (n *node) listenAndServe(ctx context.Context, srv *control.Server, token string) error {
	type listener struct {
		ln    net.Listener
		name  string
		serve func(context.Context, net.Listener) error
		what  string // "node" or "metrics"
	}
	api := func(token string) func(context.Context, net.Listener) error {
		return func(ctx context.Context, ln net.Listener) error { return srv.Serve(ctx, ln, token) }
	}
	ln, err := control.ListenUnix(n.socket)
	if err != nil {
		return err
	}
	lns := []listener{{ln, "unix:" + n.socket, api(""), "node"}}
	closeAll := func() {
		for _, l := range lns {
			_ = l.ln.Close()
		}
	}
	if n.listen != "" {
		tln, err := control.ListenTCP(n.listen)
		if err != nil {
			closeAll()
			return err
		}
		lns = append(lns, listener{tln, "tcp:" + tln.Addr().String(), api(token), "node"})
	}
	if n.metrics != "" {
		mln, err := net.Listen("tcp", n.metrics)
		if err != nil {
			closeAll()
			return fmt.Errorf("--metrics: %w", err)
		}
		lns = append(lns, listener{mln, "tcp:" + mln.Addr().String(), srv.ServeMetrics, "metrics"})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(lns))
	for _, l := range lns {
		go func() {
			err := l.serve(ctx, l.ln)
			_ = l.ln.Close() // removes the socket file
			if err != nil {
				err = fmt.Errorf("%s: %w", l.name, err)
			}
			cancel() // one listener failing stops the node
			errs <- err
		}()
		n.say(slog.LevelInfo, "%s listening on %s", l.what, l.name)
	}
	var first error
	for range lns {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	n.say(slog.LevelInfo, "node stopped")
	return first
}
