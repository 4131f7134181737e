package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
)

// wasmhot watch brings a running node to what a directory holds, then
// reloads each file that changes.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, dir)
	n.cli(t, "load", writeWasm(t, dir, "a", "a_loop_v1")) // a v1 runs; src has v2
	writeWasm(t, src, "a", "a_loop_v2")
	writeWasm(t, src, "counter", "counter_v1")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"wasmhot", "watch", "--node", n.sock, "--interval", "20ms", src}, stdout, stderr)
	}()
	waitOutput(t, stderr, `watching`)
	want := func(name, guest string) {
		t.Helper()
		sum := sha256.Sum256(guestexamples.Wasm(guest))
		hexSum := hex.EncodeToString(sum[:])
		eventually(t, name+" to run "+guest, func() bool {
			for _, m := range modulesJSON(t, n) {
				if m.Name == name && m.Current != nil && m.Current.SHA256 == hexSum {
					return true
				}
			}
			return false
		})
	}
	want("a", "a_loop_v2")
	want("counter", "counter_v1")
	if !strings.Contains(stdout.String(), "loaded a vsn 2") {
		t.Errorf("stdout: %q", stdout)
	}

	// Each change reloads with purge, so a third version loads too.
	writeWasm(t, src, "a", "a_loop_v3")
	want("a", "a_loop_v3")
	writeWasm(t, src, "counter", "counter_v2")
	want("counter", "counter_v2")
	if got := strings.TrimSpace(n.cli(t, "call", "counter", "version")); got != "2" {
		t.Errorf("counter:version() = %s after the watch reloaded it", got)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("watch exit %d; stderr:\n%s", code, stderr)
	}
}
