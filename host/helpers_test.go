package host_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/host"
)

var wasm = guestexamples.Wasm

// counterVsn returns counter_v1's bytes with version() answering n, so that
// a test can load as many distinct versions as it likes.
func counterVsn(t testing.TB, n uint32) []byte {
	t.Helper()
	b := append([]byte(nil), wasm("counter_v1")...)
	i := bytes.Index(b, []byte("VSN!"))
	if i < 0 {
		t.Fatal("counter_v1 has no VSN! marker")
	}
	b[i+4], b[i+5], b[i+6], b[i+7] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	return b
}

func newHost(t testing.TB, cfg host.Config) *host.Host {
	t.Helper()
	h, err := host.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

func mustLoad(t testing.TB, h *host.Host, name, file string) host.VersionInfo {
	t.Helper()
	vi, err := h.Load(context.Background(), name, wasm(file))
	if err != nil {
		t.Fatalf("load %s as %s: %v", file, name, err)
	}
	return vi
}

func call1(t testing.TB, h *host.Host, mod, fn string, args ...uint64) uint64 {
	t.Helper()
	res, err := h.Call(context.Background(), mod, fn, args...)
	if err != nil {
		t.Fatalf("%s:%s: %v", mod, fn, err)
	}
	if len(res) != 1 {
		t.Fatalf("%s:%s: %d results", mod, fn, len(res))
	}
	return res[0]
}
