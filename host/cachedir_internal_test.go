package host

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

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
	h, err := New(context.Background(), NewConfig().WithLog(nil).WithCompilationCacheDir(dir))
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
