package modules

import (
	"container/list"
	"crypto/sha256"
	"sync"

	"github.com/wasmhot/wasmhot/rewrite"
)

// rewriteCacheBytes bounds the rewritten modules a table keeps.
const rewriteCacheBytes = 32 << 20

// rewriteCache keeps the output of recent rewrites by the sha256 of their
// input: loading bytes again (a rollback, a reload of the same build, two
// versions alternating) skips the rewrite, as wazero's compilation cache
// then skips the compile. The rewrite is deterministic for given options
// (FuzzRewrite checks it), and a table's options never change, so a hit
// is exactly what the rewrite would return. Least recently used entries go
// first once the outputs pass rewriteCacheBytes.
type rewriteCache struct {
	mu    sync.Mutex
	max   int
	size  int
	order *list.List // of *rewriteEntry, most recent first
	byKey map[[sha256.Size]byte]*list.Element
}

type rewriteEntry struct {
	key  [sha256.Size]byte
	out  []byte
	info rewrite.Info
}

func newRewriteCache(max int) *rewriteCache {
	return &rewriteCache{max: max, order: list.New(), byKey: map[[sha256.Size]byte]*list.Element{}}
}

// rewrite returns rewrite.Rewrite(wasm, opts), from the cache when wasm
// was rewritten before. Callers must not modify the output.
func (c *rewriteCache) rewrite(wasm []byte, opts rewrite.Options) ([]byte, rewrite.Info, error) {
	key := sha256.Sum256(wasm)
	c.mu.Lock()
	if el, ok := c.byKey[key]; ok {
		c.order.MoveToFront(el)
		e := el.Value.(*rewriteEntry)
		c.mu.Unlock()
		return e.out, e.info, nil
	}
	c.mu.Unlock()
	out, info, err := rewrite.Rewrite(wasm, opts)
	if err != nil || len(out) > c.max {
		return out, info, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; !ok {
		c.byKey[key] = c.order.PushFront(&rewriteEntry{key: key, out: out, info: info})
		c.size += len(out)
		for c.size > c.max {
			last := c.order.Back()
			e := last.Value.(*rewriteEntry)
			c.order.Remove(last)
			delete(c.byKey, e.key)
			c.size -= len(e.out)
		}
	}
	return out, info, nil
}
