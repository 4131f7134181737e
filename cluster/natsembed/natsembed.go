package natsembed

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure an embedded server.
type Options struct {
	// Addr is the host:port clients connect to; port 0 picks a free one.
	// Empty means 127.0.0.1:4222.
	Addr string
	// StoreDir is where JetStream keeps its streams (the object store of
	// module bytes, the desired versions). Empty means a new temporary
	// directory, removed by Shutdown.
	StoreDir string
	// Name is the server's name ("wasmhot" when empty).
	Name string
	// Ready is how long Start waits for the server to accept connections
	// (10 s when zero).
	Ready time.Duration
}

// Server is a running embedded NATS server.
type Server struct {
	s       *server.Server
	tempDir string
}

// Start starts a NATS server with JetStream and waits until it accepts
// connections.
func Start(opts Options) (*Server, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:4222"
	}
	hostname, portS, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("natsembed: address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portS)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("natsembed: address %q: bad port", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv := &Server{}
	dir := opts.StoreDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "wasmhot-nats-"); err != nil {
			return nil, fmt.Errorf("natsembed: %w", err)
		}
		srv.tempDir = dir
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("natsembed: store dir: %w", err)
	}
	name := opts.Name
	if name == "" {
		name = "wasmhot"
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: name,
		Host:       hostname,
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		srv.removeTemp()
		return nil, fmt.Errorf("natsembed: %w", err)
	}
	srv.s = ns
	ns.Start()
	wait := opts.Ready
	if wait <= 0 {
		wait = 10 * time.Second
	}
	if !ns.ReadyForConnections(wait) {
		ns.Shutdown()
		ns.WaitForShutdown()
		srv.removeTemp()
		return nil, errors.New("natsembed: the server did not accept connections within " + wait.String() + " (is " + addr + " in use?)")
	}
	return srv, nil
}

// ClientURL is the nats:// URL clients connect to.
func (s *Server) ClientURL() string { return s.s.ClientURL() }

// Shutdown stops the server and waits until it has stopped.
func (s *Server) Shutdown() {
	s.s.Shutdown()
	s.s.WaitForShutdown()
	s.removeTemp()
}

func (s *Server) removeTemp() {
	if s.tempDir != "" {
		_ = os.RemoveAll(s.tempDir)
	}
}
