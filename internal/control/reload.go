package control

import (
	"context"
	"fmt"

	"github.com/wasmhot/wasmhot/host"
)

// Load loads srcs on h, all of them or none (code:atomic_load/1). Without
// purge a module that still has old code makes the whole load fail with
// host.ErrNotPurged. With purge each module's old code is purged first,
// killing the processes lingering in it (c:l/1); killed counts them.
//
// Every module is compiled and checked before anything is purged, so bad
// bytes change nothing. One module with purge is host.Reload, atomic in the
// host. Several modules with purge are prepared, purged one by one and then
// finished together; the host has no atomic reload of several modules, so
// the caller must serialise code changes (the server does) for no other
// load to slip in between the purges and the finish.
func Load(ctx context.Context, h *host.Host, srcs []host.Source, purge bool) (killed int, err error) {
	if !purge {
		return 0, h.AtomicLoad(ctx, srcs...)
	}
	if len(srcs) == 1 && !srcs[0].Sticky {
		_, res, err := h.Reload(ctx, srcs[0].Name, srcs[0].Wasm)
		return res.Killed, err
	}
	p, err := h.Prepare(ctx, srcs...)
	if err != nil {
		return 0, err
	}
	for _, s := range srcs {
		// A sticky module refuses the finish anyway; refuse before purging.
		if mi, _ := h.Which(s.Name); mi.Sticky {
			p.Discard(ctx)
			return 0, fmt.Errorf("module[%s]: %w", s.Name, host.ErrSticky)
		}
	}
	for _, s := range srcs {
		res, err := h.Purge(ctx, s.Name)
		killed += res.Killed
		if err != nil {
			p.Discard(ctx)
			return killed, err
		}
	}
	if err := h.Finish(ctx, p); err != nil {
		p.Discard(ctx)
		return killed, err
	}
	return killed, nil
}
