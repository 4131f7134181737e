package host

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// staleTempAge is how old a temporary file of the compilation cache must
// be before a new host removes it.
const staleTempAge = 10 * time.Minute

// removeStaleTemps removes the temporary files wazero's compilation cache
// leaves in dir when a process is killed while it writes an entry (it
// writes NAME.RANDOM.tmp, then renames it). Only those older than age go:
// another host sharing the directory may be writing a fresh one.
func removeStaleTemps(dir string, age time.Duration) {
	cutoff := time.Now().Add(-age)
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(d.Name(), ".tmp") {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().Before(cutoff) {
			_ = os.Remove(path)
		}
		return nil
	})
}
