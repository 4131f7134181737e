package host

import (
	"bytes"
	"context"
	"sync"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// wasiModule is the import module of WASI preview 1.
const wasiModule = WASIModule

// instantiateWASI makes WASI available to the modules it is granted to.
// What a guest can reach through it is set per instance by its module
// config (see newCode): stdout and stderr into the log, clocks, sleep and
// random; no filesystem, environment, arguments or sockets are configured.
func (h *Host) instantiateWASI(ctx context.Context) error {
	if len(h.cfg.wasi) == 0 {
		return nil
	}
	// A WASI call of a process is host code: a safepoint (safepoint.go).
	// poll_oneoff may sleep for as long as the guest asks, and a purge
	// must not wait for it to learn that the process is not in the window
	// of a link call.
	ctx = experimental.WithFunctionListenerFactory(ctx, wasiSafepoints{})
	_, err := wasi_snapshot_preview1.Instantiate(ctx, h.r)
	return err
}

// wasiSafepoints marks a process in host code for the length of each of
// its WASI calls.
type wasiSafepoints struct{}

func (wasiSafepoints) NewFunctionListener(api.FunctionDefinition) experimental.FunctionListener {
	return wasiSafepoints{}
}

func (wasiSafepoints) Before(ctx context.Context, _ api.Module, _ api.FunctionDefinition, _ []uint64, _ experimental.StackIterator) {
	if p := procFrom(ctx); p != nil {
		p.enterHost()
	}
}

func (wasiSafepoints) After(ctx context.Context, _ api.Module, _ api.FunctionDefinition, _ []uint64) {
	if p := procFrom(ctx); p != nil {
		p.leaveHost()
	}
}

func (wasiSafepoints) Abort(ctx context.Context, _ api.Module, _ api.FunctionDefinition, _ error) {
	if p := procFrom(ctx); p != nil {
		p.leaveHost()
	}
}

// stdio turns a WASI guest's stdout and stderr into log lines, prefixed
// like the guest's own wasmhot.log lines.
type stdio struct {
	in  *instance
	mu  sync.Mutex
	buf []byte
}

func (s *stdio) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		s.in.code.h.logLine(s.in.code, s.in.owner, s.buf[:i])
		s.buf = s.buf[i+1:]
	}
	if len(s.buf) > 64<<10 { // a very long line: flush it in pieces
		s.in.code.h.logLine(s.in.code, s.in.owner, s.buf)
		s.buf = s.buf[:0]
	}
	return len(p), nil
}
