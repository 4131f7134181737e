package host_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/hosttest"
)

// TestCompilationCacheVerified: entries of the compilation cache that were
// changed or planted while no host ran are deleted by the next host, with
// a log line, and the modules are compiled again and answer right; an
// entry planted while a host runs is dropped before its next load.
func TestCompilationCacheVerified(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	h := newHost(t, host.NewConfig().WithCompilationCacheDir(dir).WithLog(nil))
	mustLoad(t, h, "counter", "counter_v1")
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var entries []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), "wasmhot-") {
			entries = append(entries, p)
		}
		return nil
	})
	if len(entries) == 0 {
		t.Fatal("no cache entry written")
	}
	// Flip bytes in the middle of every entry, and plant one more.
	for _, p := range entries {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := len(b) / 3; i < len(b)/3+64 && i < len(b); i++ {
			b[i] ^= 0x5a
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	planted := filepath.Join(filepath.Dir(entries[0]), "0000planted")
	if err := os.WriteFile(planted, []byte("not compiled code"), 0o600); err != nil {
		t.Fatal(err)
	}

	lg := &hosttest.Log{}
	h2 := newHost(t, host.NewConfig().WithCompilationCacheDir(dir).WithLog(lg))
	for _, p := range append(entries, planted) {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s: still there", filepath.Base(p))
		}
	}
	hosttest.WaitFor(t, func() bool {
		for _, l := range lg.Text() {
			if strings.Contains(l, "do not match its index") {
				return true
			}
		}
		return false
	})
	mustLoad(t, h2, "counter", "counter_v1")
	if v := call1(t, h2, "counter", "version"); v != 1 {
		t.Fatalf("version %d after the cache was rebuilt", v)
	}
	if res, err := h2.Call(ctx, "counter", "add", 2, 3); err != nil || res[0] != 5 {
		t.Fatalf("add(2, 3) = %v, %v", res, err)
	}

	// Planted while h2 runs: gone before the next load reads the cache.
	if err := os.WriteFile(planted, []byte("not compiled code"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustLoad(t, h2, "other", "counter_v2")
	if _, err := os.Stat(planted); err == nil {
		t.Error("an entry planted while the host ran survived a load")
	}
}

// TestRemoveStaleTemps: a new host removes the temporary files a killed
// process left in its compilation cache, and only the old ones.
func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "wazero-v1")
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	old, fresh := filepath.Join(sub, "abc.123.tmp"), filepath.Join(sub, "abd.456.tmp")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), host.NewConfig().WithLog(nil).WithCompilationCacheDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	for p, want := range map[string]bool{old: false, fresh: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
}
