package control

import (
	"context"

	"github.com/wasmhot/wasmhot/host"
)

// Load loads srcs on h, all of them or none (code:atomic_load/1). Without
// purge a module that still has old code makes the whole load fail with
// host.ErrNotPurged. With purge each module's old code is purged first,
// killing the processes lingering in it (c:l/1), in the same critical
// section as the switch (host.ReloadAll); killed counts them. Every module
// is compiled and checked before anything is purged, so bad bytes change
// nothing.
func Load(ctx context.Context, h *host.Host, srcs []host.Source, purge bool) (killed int, err error) {
	if !purge {
		return 0, h.AtomicLoad(ctx, srcs...)
	}
	res, err := h.ReloadAll(ctx, srcs...)
	return res.Killed, err
}
