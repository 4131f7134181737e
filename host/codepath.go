package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/wasmhot/wasmhot/modules"
)

// autoloads holds the loads from the code path in progress, one per name.
type autoloads struct {
	mu       sync.Mutex
	inflight map[string]*autoload
}

type autoload struct {
	done chan struct{}
	ok   bool
}

// autoload loads module from the code path, as Erlang's interactive mode
// does on the first call of a module that is not loaded, and reports
// whether the module now has current code. Concurrent first uses of one
// name share one load. In embedded mode, or without a code path, it does
// nothing.
func (h *Host) autoload(ctx context.Context, module string) bool {
	if !h.cfg.interactive || len(h.cfg.codePath) == 0 || !modules.ValidName(module) || h.cfg.hostModule(module) != nil {
		return false
	}
	a := &h.autoloads
	a.mu.Lock()
	if l := a.inflight[module]; l != nil {
		a.mu.Unlock()
		select {
		case <-l.done:
			return l.ok
		case <-ctx.Done():
			return false
		}
	}
	if a.inflight == nil {
		a.inflight = map[string]*autoload{}
	}
	l := &autoload{done: make(chan struct{})}
	a.inflight[module] = l
	a.mu.Unlock()

	l.ok = h.loadFromPath(ctx, module)
	a.mu.Lock()
	delete(a.inflight, module)
	a.mu.Unlock()
	close(l.done)
	return l.ok
}

func (h *Host) loadFromPath(ctx context.Context, module string) bool {
	if m, _ := h.table.Get(module); m.Current != nil {
		return true // loaded since the caller looked
	}
	wasm, path, err := h.findModule(module)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			h.logLine(nil, nil, []byte(fmt.Sprintf("code path: %v", err)))
		}
		return false
	}
	if _, err := h.Load(ctx, module, wasm); err != nil {
		if m, _ := h.table.Get(module); m.Current != nil {
			return true
		}
		h.logLine(nil, nil, []byte(fmt.Sprintf("code path: load %s: %v", path, err)))
		return false
	}
	return true
}

// findModule reads NAME.wasm from the first directory of the code path
// that has it.
func (h *Host) findModule(module string) ([]byte, string, error) {
	for _, dir := range h.cfg.codePath {
		path := filepath.Join(dir, module+".wasm")
		st, err := os.Stat(path)
		if err != nil {
			continue
		}
		if !st.Mode().IsRegular() {
			return nil, path, fmt.Errorf("%s: not a regular file", path)
		}
		if st.Size() > int64(h.cfg.maxModuleSize) {
			return nil, path, fmt.Errorf("%s: %w: %d bytes", path, ErrTooLarge, st.Size())
		}
		b, err := os.ReadFile(path)
		return b, path, err
	}
	return nil, "", fmt.Errorf("module[%s]: %w on the code path", module, fs.ErrNotExist)
}
