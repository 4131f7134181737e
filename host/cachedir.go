package host

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// staleTempAge is how old a temporary file of the compilation cache must
// be before a host removes it. wazero writes an entry as NAME.RANDOM.tmp,
// then renames it, so a process killed meanwhile leaves the temporary
// file; a younger one may be another host's write in progress.
const staleTempAge = 10 * time.Minute

// The compilation cache's integrity.
//
// wazero trusts the compiled code it finds in a cache directory: a
// hand-edited entry can make a module compute wrong answers, crash the
// node or make every start run out of memory. So the host keeps, beside
// the entries, an index of their sizes, times and sha256 (cacheIndexName),
// updated as wazero writes them, and checks the directory against it: in
// full when a host starts on the directory and by size and time before
// every load: an entry the index does not know, or whose hash differs, is
// deleted, and compiled again when needed. After a load, the entries it
// made are hashed and indexed. A bad entry is never fatal: it costs a
// compile. The same walk removes the stale temporary files.

const cacheIndexName = "wasmhot-cache-index.json"

type cacheEntry struct {
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	SHA256  string `json:"sha256"`
}

type cacheGuard struct {
	dir string
	mu  sync.Mutex
	idx map[string]cacheEntry // by path relative to dir
}

// newCacheGuard checks dir in full against its index and returns the
// guard, with what it removed.
func newCacheGuard(dir string) (*cacheGuard, []string) {
	g := &cacheGuard{dir: dir, idx: map[string]cacheEntry{}}
	if b, err := os.ReadFile(filepath.Join(dir, cacheIndexName)); err == nil {
		_ = json.Unmarshal(b, &g.idx) // an unreadable index trusts nothing
	}
	return g, g.sync(true)
}

// sync walks the directory: strict (at start, before a load) removes the
// entries the index does not know; otherwise (after a load) they are
// indexed. It returns the entries it removed.
func (g *cacheGuard) sync(strict bool) (removed []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	seen := map[string]bool{}
	changed := false
	index := filepath.Join(g.dir, cacheIndexName)
	staleBefore := time.Now().Add(-staleTempAge)
	_ = filepath.WalkDir(g.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == index {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if strings.HasSuffix(d.Name(), ".tmp") {
			if fi.ModTime().Before(staleBefore) {
				_ = os.Remove(path)
			}
			return nil
		}
		rel, err := filepath.Rel(g.dir, path)
		if err != nil {
			return nil
		}
		e, known := g.idx[rel]
		if known && e.Size == fi.Size() && e.ModTime == fi.ModTime().UnixNano() {
			seen[rel] = true
			return nil
		}
		sum, err := fileSHA256(path)
		switch {
		case err != nil:
			return nil
		case known && sum == e.SHA256, !known && !strict:
			g.idx[rel] = cacheEntry{Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), SHA256: sum}
			seen[rel] = true
		default:
			_ = os.Remove(path)
			removed = append(removed, rel)
		}
		changed = true
		return nil
	})
	for rel := range g.idx {
		if !seen[rel] {
			delete(g.idx, rel)
			changed = true
		}
	}
	if changed {
		if b, err := json.Marshal(g.idx); err == nil {
			tmp := index + ".tmp"
			if os.WriteFile(tmp, b, 0o600) == nil {
				_ = os.Rename(tmp, index)
			}
		}
	}
	return removed
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
