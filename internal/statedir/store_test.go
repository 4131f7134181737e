package statedir

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/host"
)

func newHost(t *testing.T, codePath ...string) *host.Host {
	t.Helper()
	h, err := host.New(context.Background(), host.NewConfig().WithLog(nil).WithCodePath(codePath...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

func put(t *testing.T, s *Store, b []byte) {
	t.Helper()
	if _, err := s.Put(b); err != nil {
		t.Fatal(err)
	}
}

// A store records the current and old versions; a new store on the same
// directory boots the current ones with their sticky flags.
func TestStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t)
	v1, v2, c1 := guestexamples.Wasm("a_loop_v1"), guestexamples.Wasm("a_loop_v2"), guestexamples.Wasm("counter_v1")
	for _, b := range [][]byte{v1, v2, c1} {
		put(t, s, b)
	}
	if err := h.AtomicLoad(ctx, host.Source{Name: "a", Wasm: v1}, host.Source{Name: "counter", Wasm: c1, Sticky: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Load(ctx, "a", v2); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(h.Modules()); err != nil {
		t.Fatal(err)
	}
	m := s.Manifest()
	if len(m.Modules) != 2 || m.Modules[0].Old == "" || !m.Modules[1].Sticky {
		t.Fatalf("manifest %+v", m)
	}

	// A second node on the directory is refused while the first has it.
	if _, err := Open(dir, nil); err == nil || !strings.Contains(err.Error(), "another node uses it") {
		t.Fatalf("a second Open while the first is open: %v, want locked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	srcs, err := s2.Boot()
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 2 || srcs[0].Name != "a" || string(srcs[0].Wasm) != string(v2) || !srcs[1].Sticky {
		t.Fatalf("boot: %d sources %+v", len(srcs), srcs)
	}

	// Purging a's old code drops its blob.
	if _, err := h.Purge(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(h.Modules()); err != nil {
		t.Fatal(err)
	}
	blobs, _ := os.ReadDir(filepath.Join(dir, "blobs"))
	if len(blobs) != 2 {
		t.Errorf("blobs after purge: %v", blobs)
	}

	// A corrupt blob stops the boot.
	if err := os.WriteFile(s.blobPath(s.Manifest().Modules[0].Current), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Boot(); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("boot with a corrupt blob: %v", err)
	}
}

// A module the host loaded from its code path is persisted from there;
// bytes found nowhere are reported and left out.
func TestStoreCodePath(t *testing.T) {
	ctx := context.Background()
	dir, code := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(code, "counter.wasm"), guestexamples.Wasm("counter_v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, []string{code})
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, code)
	if _, err := h.Call(ctx, "counter", "version"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Load(ctx, "a", guestexamples.Wasm("a_loop_v1")); err != nil {
		t.Fatal(err)
	}
	err = s.Sync(h.Modules())
	if err == nil || !strings.Contains(err.Error(), "a vsn 1") {
		t.Errorf("Sync error %v, want one naming a vsn 1", err)
	}
	m := s.Manifest()
	if len(m.Modules) != 1 || m.Modules[0].Name != "counter" {
		t.Fatalf("manifest %+v", m)
	}
	if srcs, err := s.Boot(); err != nil || len(srcs) != 1 {
		t.Errorf("boot: %v, %v", srcs, err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, manifestName), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); err == nil {
		t.Error("malformed manifest: no error")
	}
	if err := os.WriteFile(filepath.Join(dir, manifestName), []byte(`{"format":9}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); err == nil || !strings.Contains(err.Error(), "format 9") {
		t.Errorf("unknown format: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifestName), []byte(`{"modules":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); err == nil || !strings.Contains(err.Error(), "format 0") {
		t.Errorf("no format: %v", err)
	}
}
