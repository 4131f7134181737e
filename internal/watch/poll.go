// Package watch finds .wasm files whose content changed, by polling.
//
// Polling (stat every interval, then sha256 when size or mtime moved) is
// used rather than inotify-style notifications: it needs no dependency,
// behaves the same on every OS and file system (network mounts, bind
// mounts, containers), and sees editors' and build tools' write-to-temp-
// and-rename the same as an in-place write. A dozen stats every 200 ms
// cost nothing next to compiling a module.
//
// A change is reported once the file has kept the same size and mtime for
// one interval (so a file still being written is not loaded half-done) and
// its content hash differs from the last one seen or reported.
package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// DefaultInterval is the polling interval of Run when given 0.
const DefaultInterval = 200 * time.Millisecond

// Change is the new content of a watched file.
type Change struct {
	Path   string // as found: a watched file, or DIR/NAME.wasm
	Name   string // base name without ".wasm": the module name it implies
	Wasm   []byte
	SHA256 string // hex
	// Explicit is true for files under the watched paths given to New as
	// explicit (see New); false for files in other watched directories.
	Explicit bool
}

type fileState struct {
	size    int64
	mtime   time.Time
	pending bool // stat changed; report once it is stable
}

// Poller watches files and directories (their *.wasm, not recursively).
// It is not safe for concurrent use.
type Poller struct {
	explicit []string
	others   []string
	stats    map[string]fileState
	sums     map[string]string // last hash seen or reported, kept across removal
}

// New returns a poller of explicit paths (files or directories whose
// changes the caller always wants) and of other directories (the code
// path: the caller decides per change). Nothing is read until Prime or Scan.
func New(explicit, others []string) *Poller {
	return &Poller{explicit: explicit, others: others, stats: map[string]fileState{}, sums: map[string]string{}}
}

// list returns every watched file now present, with its explicitness.
func (p *Poller) list() ([]string, map[string]bool) {
	var files []string
	explicit := map[string]bool{}
	add := func(root string, exp bool) {
		fi, err := os.Stat(root)
		if err != nil {
			return
		}
		if !fi.IsDir() {
			if _, dup := explicit[root]; !dup {
				files = append(files, root)
			}
			explicit[root] = explicit[root] || exp
			return
		}
		ents, err := os.ReadDir(root)
		if err != nil {
			return
		}
		for _, e := range ents {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".wasm") {
				continue
			}
			f := filepath.Join(root, e.Name())
			if _, dup := explicit[f]; !dup {
				files = append(files, f)
			}
			explicit[f] = explicit[f] || exp
		}
	}
	for _, r := range p.explicit {
		add(r, true)
	}
	for _, r := range p.others {
		add(r, false)
	}
	sort.Strings(files)
	return files, explicit
}

// Prime reads every watched file now present, records it as seen, and
// returns its content: the starting point that later changes are measured
// against.
func (p *Poller) Prime() []Change {
	files, explicit := p.list()
	var out []Change
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			continue
		}
		c, ok := read(f, explicit[f])
		if !ok {
			continue
		}
		p.stats[f] = fileState{size: fi.Size(), mtime: fi.ModTime()}
		p.sums[f] = c.SHA256
		out = append(out, c)
	}
	return out
}

// Scan polls once and returns the files whose content changed and is
// stable. A file that appears is a change (unless it has the content last
// seen at that path); a file that disappears is forgotten but not
// reported.
func (p *Poller) Scan() []Change {
	files, explicit := p.list()
	present := map[string]bool{}
	var out []Change
	for _, f := range files {
		present[f] = true
		fi, err := os.Stat(f)
		if err != nil {
			continue
		}
		st, known := p.stats[f]
		if !known || st.size != fi.Size() || !st.mtime.Equal(fi.ModTime()) {
			p.stats[f] = fileState{size: fi.Size(), mtime: fi.ModTime(), pending: true}
			continue
		}
		if !st.pending {
			continue
		}
		c, ok := read(f, explicit[f])
		if !ok {
			continue
		}
		st.pending = false
		p.stats[f] = st
		if p.sums[f] == c.SHA256 {
			continue
		}
		p.sums[f] = c.SHA256
		out = append(out, c)
	}
	for f := range p.stats {
		if !present[f] {
			delete(p.stats, f)
		}
	}
	return out
}

// Run scans every interval (DefaultInterval when 0) and calls changed with
// each non-empty batch, until ctx ends.
func (p *Poller) Run(ctx context.Context, interval time.Duration, changed func([]Change)) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if cs := p.Scan(); len(cs) > 0 {
				changed(cs)
			}
		}
	}
}

func read(path string, explicit bool) (Change, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Change{}, false
	}
	sum := sha256.Sum256(b)
	return Change{
		Path: path, Name: strings.TrimSuffix(filepath.Base(path), ".wasm"),
		Wasm: b, SHA256: hex.EncodeToString(sum[:]), Explicit: explicit,
	}, true
}
