// Package natstest starts an embedded NATS server for tests. It imports
// no wasmhot package but natsembed, so that the cluster package's own
// tests can use it as well as the tests of the packages above it.
package natstest

import (
	"testing"

	"github.com/wasmhot/wasmhot/cluster/natsembed"
)

// StartNATS starts an embedded NATS server with JetStream on a free
// loopback port, shut down when the test ends.
func StartNATS(t testing.TB) *natsembed.Server {
	t.Helper()
	s, err := natsembed.Start(natsembed.Options{Addr: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}
