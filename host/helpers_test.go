package host_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

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

// logLines collects guest log lines and lets a test wait for them.
type logLines struct {
	mu    sync.Mutex
	buf   []byte
	lines []string
	added chan struct{}
}

func newLog() *logLines { return &logLines{added: make(chan struct{}, 1)} }

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	l.mu.Unlock()
	select {
	case l.added <- struct{}{}:
	default:
	}
	return len(p), nil
}

// text returns the guest's part of each line (after "module vN pid: ").
func (l *logLines) text() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.lines))
	for i, s := range l.lines {
		if j := strings.Index(s, ": "); j >= 0 {
			s = s[j+2:]
		}
		out[i] = s
	}
	return out
}

// wait returns once at least n lines arrived, failing the test after 10 s.
func (l *logLines) wait(t testing.TB, n int) []string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if got := l.text(); len(got) >= n {
			return got
		}
		select {
		case <-l.added:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("waited for %d log lines, have %q", n, l.text())
		}
	}
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
