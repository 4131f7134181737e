// Package statedir persists what a wasmhot node runs, so that a restarted
// node comes back with the same current code.
//
// Layout of the directory:
//
//	DIR/manifest.json          which version of each module is current (and
//	                           old), and which modules are sticky
//	DIR/blobs/SHA256.wasm      the bytes of each version, named by the hex
//	                           sha256 of their content
//
// Every file is written to a temporary name, synced and renamed, so a crash
// leaves either the previous manifest or the new one. A blob is written
// before any manifest names it; blobs no manifest names any more (purged
// versions) are removed when the manifest is next written.
//
// At boot only the current versions come back (see [Store.Boot]): old code
// exists to let running processes finish, and a restarted node has no
// running processes, so an old version would only be purged again.
package statedir

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/lockfile"
)

// Manifest is the content of manifest.json.
type Manifest struct {
	Format  int     `json:"format"` // 1
	Modules []Entry `json:"modules"`
}

// Entry is one module: the sha256 of its current and old versions ("" when
// absent) and whether it is sticky.
type Entry struct {
	Name    string `json:"name"`
	Current string `json:"current,omitempty"`
	Old     string `json:"old,omitempty"`
	Sticky  bool   `json:"sticky,omitempty"`
}

const manifestName = "manifest.json"

// Store is an open state directory. It is safe for concurrent use.
type Store struct {
	dir      string
	codePath []string
	lock     *os.File // held while the store is open

	mu       sync.Mutex
	manifest Manifest
}

// Open opens (creating it, mode 0700, when missing) the state directory
// dir and reads its manifest. codePath is where Sync looks for the bytes of
// modules the node loaded by itself from its code path. The directory is
// locked (its file "lock") until Close: a second node on it fails here.
func Open(dir string, codePath []string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	lock, err := lockfile.Lock(filepath.Join(dir, "lock"))
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	s, err := open(dir, codePath)
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

func open(dir string, codePath []string) (*Store, error) {
	s := &Store{dir: dir, codePath: codePath, manifest: Manifest{Format: 1}}
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("state dir: %w", err)
	}
	var m Manifest // a manifest without "format" is not one this node wrote
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("state dir: %s: %w", filepath.Join(dir, manifestName), err)
	}
	if m.Format != 1 {
		return nil, fmt.Errorf("state dir: %s: unknown format %d (want 1)", filepath.Join(dir, manifestName), m.Format)
	}
	s.manifest = m
	return s, nil
}

// Close releases the directory's lock.
func (s *Store) Close() error {
	if s == nil || s.lock == nil {
		return nil
	}
	err := s.lock.Close()
	s.lock = nil
	return err
}

// Manifest returns a copy of the manifest last read or written.
func (s *Store) Manifest() Manifest {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.manifest
	m.Modules = append([]Entry(nil), m.Modules...)
	return m
}

func (s *Store) blobPath(sum string) string {
	return filepath.Join(s.dir, "blobs", sum+".wasm")
}

// Put stores wasm under its sha256 and returns the hex sum. Storing bytes
// already there does nothing.
func (s *Store) Put(wasm []byte) (string, error) {
	sum := sha256.Sum256(wasm)
	hexSum := hex.EncodeToString(sum[:])
	p := s.blobPath(hexSum)
	if _, err := os.Stat(p); err == nil {
		return hexSum, nil
	}
	if err := writeAtomic(p, wasm); err != nil {
		return "", fmt.Errorf("state dir: %w", err)
	}
	return hexSum, nil
}

// Boot returns the current version of every module in the manifest, with
// its sticky flag, ready for host.AtomicLoad. A missing blob or one whose
// content does not match its name is an error: the node must not come up
// running something else than it ran.
func (s *Store) Boot() ([]host.Source, error) {
	m := s.Manifest()
	var srcs []host.Source
	for _, e := range m.Modules {
		if e.Current == "" {
			continue
		}
		b, err := os.ReadFile(s.blobPath(e.Current))
		if err != nil {
			return nil, fmt.Errorf("state dir: module %s: %w", e.Name, err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != e.Current {
			return nil, fmt.Errorf("state dir: module %s: blob %s is corrupt (sha256 %x)", e.Name, e.Current, sum)
		}
		srcs = append(srcs, host.Source{Name: e.Name, Wasm: b, Sticky: e.Sticky})
	}
	return srcs, nil
}

// Sync records mods (host.Modules()) as the manifest, when it changed, and
// removes the blobs it no longer names. A version whose bytes were never
// Put (the node loaded it from its code path by itself) is looked up as
// NAME.wasm on the code path; when not found there it is left out of the
// manifest and the returned error says so (the rest is still written).
func (s *Store) Sync(mods []host.ModuleInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var missing []string
	have := func(name string, v *host.VersionInfo) string {
		if v == nil {
			return ""
		}
		if _, err := os.Stat(s.blobPath(v.SHA256)); err == nil || s.fromCodePath(name, v.SHA256) {
			return v.SHA256
		}
		missing = append(missing, fmt.Sprintf("%s vsn %d", name, v.Vsn))
		return ""
	}
	m := Manifest{Format: 1, Modules: []Entry{}}
	for _, mi := range mods {
		e := Entry{Name: mi.Name, Current: have(mi.Name, mi.Current), Old: have(mi.Name, mi.Old), Sticky: mi.Sticky}
		if e.Current != "" || e.Old != "" {
			m.Modules = append(m.Modules, e)
		}
	}
	sort.Slice(m.Modules, func(i, j int) bool { return m.Modules[i].Name < m.Modules[j].Name })
	if !reflect.DeepEqual(m, s.manifest) {
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(s.dir, manifestName), append(b, '\n')); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
		s.manifest = m
	}
	gcErr := s.gc(m)
	if len(missing) > 0 {
		return fmt.Errorf("state dir: bytes unknown, not persisted: %s", strings.Join(missing, ", "))
	}
	return gcErr
}

// fromCodePath stores NAME.wasm from the code path if its sha256 is sum.
func (s *Store) fromCodePath(name, sum string) bool {
	for _, dir := range s.codePath {
		b, err := os.ReadFile(filepath.Join(dir, name+".wasm"))
		if err != nil {
			continue
		}
		if got, err := s.Put(b); err == nil && got == sum {
			return true
		} else if err == nil {
			_ = os.Remove(s.blobPath(got)) // not that version; gc would drop it anyway
		}
	}
	return false
}

// gc removes the blobs m does not name, and temporary files left by a crash.
func (s *Store) gc(m Manifest) error {
	keep := map[string]bool{}
	for _, e := range m.Modules {
		keep[e.Current+".wasm"], keep[e.Old+".wasm"] = true, true
	}
	ents, err := os.ReadDir(filepath.Join(s.dir, "blobs"))
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	var errs []error
	for _, ent := range ents {
		if !keep[ent.Name()] {
			if err := os.Remove(filepath.Join(s.dir, "blobs", ent.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// writeAtomic writes data to path through a synced temporary file and a
// rename, then syncs the directory.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
