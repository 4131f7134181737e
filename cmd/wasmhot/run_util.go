package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/modules"
)

// baseName is the file name of path.
func baseName(path string) string { return filepath.Base(path) }

// deriveModuleName makes a module name of a file's name: its base name
// without .wasm, in lower case, with every character other than a-z, 0-9
// and _ made _, cut to 64 bytes. A name that still is no module name (it
// does not start with a letter) is an error asking for --name.
func deriveModuleName(path string) (string, error) {
	base := strings.TrimSuffix(baseName(path), ".wasm")
	var b strings.Builder
	for _, r := range strings.ToLower(base) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := b.String()
	if len(name) > 64 {
		name = name[:64]
	}
	if !modules.ValidName(name) {
		return "", &explained{fmt.Sprintf("%s: no module name can be made of %q (a module name is [a-z][a-z0-9_]{0,63}); give one with --name, or rename the file", path, base),
			modules.ErrBadName}
	}
	return name, nil
}

// explainEntry turns the failure to spawn the entry process into an error
// that lists what could be spawned instead: the module's exports of type
// () -> ().
func (r *runner) explainEntry(err error) error {
	if !errors.Is(err, host.ErrUndef) && !errors.Is(err, host.ErrBadArity) {
		return err
	}
	mi, werr := r.h.Which(r.mod)
	if werr != nil || mi.Current == nil {
		return err
	}
	var entries []string
	what := "undef: no such function"
	for _, f := range mi.Current.Exports {
		if len(f.Params) == 0 && len(f.Results) == 0 {
			entries = append(entries, f.Name)
		}
		if f.Name == r.fn {
			what = fmt.Sprintf("badarity: it is of type %s, not () -> ()", f.Signature)
		}
	}
	sort.Strings(entries)
	msg := fmt.Sprintf("entry %s:%s: %s", r.mod, r.fn, what)
	if len(entries) == 0 {
		msg += fmt.Sprintf("; module %s exports no function of type () -> () to run as a process", r.mod)
	} else {
		msg += fmt.Sprintf("; the entry points of %s (exports of type () -> ()): %s; choose one with --entry %s:FN",
			r.mod, strings.Join(entries, ", "), r.mod)
	}
	return &explained{msg, err}
}

// defaultCacheDir is where run keeps compiled code unless told: wasmhot in
// the user's cache directory, or nowhere when there is none.
func defaultCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "wasmhot")
}

// maxCacheBytes bounds run's compilation cache: every version of every
// module run goes in it, and nothing else removes them.
const maxCacheBytes = 1 << 30

// pruneCache removes the oldest files (by modification time) of the
// compilation cache in dir until it holds at most limit bytes. The host's
// index of the cache (host.Config.WithCompilationCacheDir) forgets the
// entries that are gone; a module whose entry was removed is compiled
// again. Problems are reported, never fatal.
func pruneCache(dir string, limit int64, stderr io.Writer) {
	type file struct {
		path  string
		size  int64
		mtime int64
	}
	var files []file
	var total int64
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), "wasmhot-cache-index") {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			files = append(files, file{path, fi.Size(), fi.ModTime().UnixNano()})
			total += fi.Size()
		}
		return nil
	})
	if total <= limit {
		return
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mtime < files[j].mtime })
	removed := 0
	for _, f := range files {
		if total <= limit {
			break
		}
		if err := os.Remove(f.path); err != nil {
			continue
		}
		total -= f.size
		removed++
	}
	fmt.Fprintf(stderr, "wasmhot: compilation cache %s: removed its %d oldest entries to stay under %d MiB\n", dir, removed, limit>>20)
}
