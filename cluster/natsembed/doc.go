// Package natsembed runs a NATS server with JetStream inside the program,
// so that one binary is enough for a one-machine cluster (wasmhot serve
// --nats-embedded) and for tests of package cluster.
//
// The server has no authentication and no TLS: anyone who can reach its
// address can act on the fleet. Listen on loopback, or run a NATS server
// of your own with credentials and pass its URL to cluster.Join's
// connection instead.
package natsembed
