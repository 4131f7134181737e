package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wasmhot/wasmhot/host"
)

// pending is a rollout this node prepared and has not finished or
// aborted: the compiled modules to load, and the modules whose old
// version comes back (rollback).
type pending struct {
	rollout string
	prep    *host.Prepared // nil when nothing is to be loaded
	purge   bool           // purge old code before the switch (FinishReload)
	swaps   []string       // modules to roll back to their old version
	purges  []string       // modules already current whose old code a reload purges
	timer   *time.Timer
}

func (p *pending) discard() {
	if p.timer != nil {
		p.timer.Stop()
	}
	if p.prep != nil {
		p.prep.Discard(context.Background())
	}
}

// handle answers a request on the node's subject. Each runs in its own
// goroutine; code changes are ordered by n.mu.
func (n *Node) handle(msg *nats.Msg) {
	var req request
	if err := json.Unmarshal(msg.Data, &req); err != nil {
		n.respond(msg, NodeAnswer{Node: n.name, Err: "bad request: " + err.Error()})
		return
	}
	if req.Op == "ping" {
		n.respond(msg, NodeAnswer{Node: n.name})
		return
	}
	n.hmu.Lock()
	if n.closed() {
		n.hmu.Unlock()
		n.respond(msg, NodeAnswer{Node: n.name, Err: ErrClosed.Error()})
		return
	}
	n.wg.Add(1)
	n.hmu.Unlock()
	go func() {
		defer n.wg.Done()
		timeout := n.opts.PrepareTimeout
		if req.Op == "finish" {
			timeout = n.opts.FinishTimeout
		}
		ctx, cancel := context.WithTimeout(n.life, timeout)
		defer cancel()
		began := time.Now()
		a := n.answer(ctx, req)
		a.Node, a.Took = n.name, time.Since(began)
		if req.Op != "abort" {
			a.Modules = moduleStates(n.h)
		}
		n.respond(msg, a)
		if req.Op != "prepare" && req.Op != "abort" {
			n.beatSoon()
		}
	}()
}

func (n *Node) respond(msg *nats.Msg, a NodeAnswer) {
	b, _ := json.Marshal(a)
	_ = msg.Respond(b)
}

func (n *Node) answer(ctx context.Context, req request) NodeAnswer {
	var a NodeAnswer
	var err error
	switch req.Op {
	case "prepare":
		err = n.prepare(ctx, req)
	case "finish":
		a.Switched, err = n.finish(ctx, req.Rollout)
	case "abort":
		n.abort(req.Rollout)
	case "purge":
		var res host.PurgeResult
		res, err = n.h.Purge(ctx, req.Module)
		a.Killed = res.Killed
	case "soft-purge":
		a.Freed, err = n.h.SoftPurge(ctx, req.Module)
	default:
		err = fmt.Errorf("unknown operation %q", clip(req.Op))
	}
	if err != nil {
		a.Err = err.Error()
	}
	return a
}

// prepare fetches, checks and compiles the rollout's modules, and keeps
// them until the rollout finishes or aborts (or its lock would have
// expired). It changes nothing visible.
func (n *Node) prepare(ctx context.Context, req request) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed() {
		return ErrClosed
	}
	if old := n.pending[req.Rollout]; old != nil {
		old.discard()
		delete(n.pending, req.Rollout)
	}
	p := &pending{rollout: req.Rollout, purge: req.Kind != OpLoad}
	var srcs []host.Source
	var errs []error
	for _, rec := range req.Modules {
		mi, err := n.h.Which(rec.Name)
		if err != nil && !errors.Is(err, host.ErrNotLoaded) {
			errs = append(errs, fmt.Errorf("module[%s]: %w", rec.Name, err))
			continue
		}
		switch {
		case mi.Current != nil && mi.Current.SHA256 == rec.SHA256:
			// Already current here; a reload still purges the old code,
			// as c:l/1 of the same file would.
			if req.Kind == OpReload && mi.Old != nil {
				p.purges = append(p.purges, rec.Name)
			}
			continue
		case mi.Sticky:
			errs = append(errs, fmt.Errorf("module[%s]: %w", rec.Name, host.ErrSticky))
			continue
		case req.Kind == OpRollback && mi.Old != nil && mi.Old.SHA256 == rec.SHA256:
			p.swaps = append(p.swaps, rec.Name)
			continue
		case req.Kind == OpLoad && mi.Old != nil:
			errs = append(errs, fmt.Errorf("module[%s]: %w (old vsn %d still loaded; load with purge, or purge it first)", rec.Name, host.ErrNotPurged, mi.Old.Vsn))
			continue
		}
		wasm, err := n.fetch(ctx, rec.SHA256)
		if err != nil {
			errs = append(errs, fmt.Errorf("module[%s]: %w", rec.Name, err))
			continue
		}
		srcs = append(srcs, host.Source{Name: rec.Name, Wasm: wasm})
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(srcs) > 0 {
		prep, err := n.h.Prepare(ctx, srcs...)
		if err != nil {
			return err
		}
		p.prep = prep
	}
	id := req.Rollout
	p.timer = time.AfterFunc(n.opts.lockTTL(), func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.pending[id] == p {
			p.discard()
			delete(n.pending, id)
		}
	})
	n.pending[id] = p
	return nil
}

// fetch reads a module's bytes from the code store and refuses them unless
// their sha256 is the one asked for.
func (n *Node) fetch(ctx context.Context, sum string) ([]byte, error) {
	b, err := n.code.GetBytes(ctx, sum)
	if err != nil {
		return nil, fmt.Errorf("fetch %s from the code store: %w", short(sum), err)
	}
	got := sha256.Sum256(b)
	if hex.EncodeToString(got[:]) != sum {
		return nil, fmt.Errorf("%w: the code store's object %s has sha256 %s", ErrChecksum, short(sum), short(hex.EncodeToString(got[:])))
	}
	return b, nil
}

func short(sum string) string {
	if len(sum) > 16 {
		return sum[:16]
	}
	return sum
}

// finish makes a prepared rollout current. When the rollout is no longer
// pending here (finished already by the watch of the desired versions, or
// lost in a restart), the node converges to the desired versions, which
// that rollout wrote.
func (n *Node) finish(ctx context.Context, rollout string) (time.Time, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p := n.pending[rollout]; p != nil {
		return n.finishPending(ctx, p)
	}
	if c := n.conv.Load(); c.applied == rollout && c.failure == "" {
		return n.lastSwitch, nil // finished when the decision was seen
	}
	d, err := n.desired(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if d.Rollout != rollout {
		return time.Time{}, fmt.Errorf("rollout %s is neither prepared here nor the fleet's desired versions (%s)", rollout, d.Rollout)
	}
	err = n.convergeLocked(ctx, d)
	return n.lastSwitch, err
}

// finishPending switches to p: the prepared modules become current
// together (after a purge of their old code for a reload or rollback),
// then the rolled back ones get their old version back.
func (n *Node) finishPending(ctx context.Context, p *pending) (time.Time, error) {
	delete(n.pending, p.rollout)
	if p.timer != nil {
		p.timer.Stop()
	}
	var err error
	if p.prep != nil {
		if p.purge {
			_, err = n.h.FinishReload(ctx, p.prep)
		} else {
			err = n.h.Finish(ctx, p.prep)
		}
		if err != nil {
			p.prep.Discard(ctx)
		}
	}
	for _, name := range p.swaps {
		if err != nil {
			break
		}
		_, err = n.h.Rollback(ctx, name)
	}
	for _, name := range p.purges {
		if err != nil {
			break
		}
		_, err = n.h.Purge(ctx, name)
	}
	at := time.Now()
	if err != nil {
		n.failed(err)
		return at, err
	}
	n.succeeded(p.rollout)
	n.lastSwitch = at
	n.ready.Store(true)
	return at, nil
}

func (n *Node) abort(rollout string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p := n.pending[rollout]; p != nil {
		p.discard()
		delete(n.pending, rollout)
	}
}

// converge brings the node to the fleet's desired versions.
func (n *Node) converge(ctx context.Context) error {
	d, err := n.desired(ctx)
	if err != nil {
		n.mu.Lock()
		n.failed(err)
		n.mu.Unlock()
		return err
	}
	return n.convergeTo(ctx, d)
}

func (n *Node) convergeTo(ctx context.Context, d *Desired) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed() {
		return ErrClosed
	}
	return n.convergeLocked(ctx, d)
}

// convergeLocked makes the node's current versions the desired ones. A
// rollout prepared here is finished (the desired record is its decision);
// otherwise each module that differs gets its old version back when that
// is the desired one, the others are loaded together from the code store
// with their old code purged first (c:l), and deleted ones are deleted.
// Modules the fleet does not name are left alone.
func (n *Node) convergeLocked(ctx context.Context, d *Desired) error {
	if p := n.pending[d.Rollout]; p != nil && d.Rollout != "" {
		_, err := n.finishPending(ctx, p)
		return err
	}
	names := make([]string, 0, len(d.Modules))
	for name := range d.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	var srcs []host.Source
	var errs []error
	changed := false
	for _, name := range names {
		rec := d.Modules[name]
		mi, _ := n.h.Which(name)
		switch {
		case rec.Deleted:
			if mi.Current != nil {
				if _, _, err := n.deleteLocalLocked(ctx, name); err != nil {
					errs = append(errs, fmt.Errorf("module[%s]: delete: %w", name, err))
				}
				changed = true
			}
		case mi.Current != nil && mi.Current.SHA256 == rec.SHA256:
		case mi.Old != nil && mi.Old.SHA256 == rec.SHA256:
			if _, err := n.h.Rollback(ctx, name); err != nil {
				errs = append(errs, fmt.Errorf("module[%s]: rollback: %w", name, err))
			}
			changed = true
		default:
			wasm, err := n.fetch(ctx, rec.SHA256)
			if err != nil {
				errs = append(errs, fmt.Errorf("module[%s]: %w", name, err))
				continue
			}
			srcs = append(srcs, host.Source{Name: name, Wasm: wasm})
		}
	}
	if len(srcs) > 0 && len(errs) == 0 {
		if _, err := n.h.ReloadAll(ctx, srcs...); err != nil {
			errs = append(errs, err)
		}
		changed = true
	}
	at := time.Now()
	if err := errors.Join(errs...); err != nil {
		n.failed(err)
		return err
	}
	if changed || n.lastSwitch.IsZero() {
		n.lastSwitch = at
	}
	n.succeeded(d.Rollout)
	n.ready.Store(true)
	if changed {
		n.log.Info("converged", "rollout", d.Rollout, "modules", len(names))
	}
	return nil
}

// deleteLocalLocked purges the module's old code (killing the processes
// that linger in it), then makes its current code old (code:delete).
func (n *Node) deleteLocalLocked(ctx context.Context, module string) (int, bool, error) {
	res, err := n.h.Purge(ctx, module)
	if err != nil {
		return res.Killed, false, err
	}
	deleted, err := n.h.Delete(ctx, module)
	return res.Killed, deleted, err
}

// failed records a failed convergence: the heartbeat retries it, after a
// delay that doubles from one heartbeat up to a minute, so that a module
// this node cannot load is not compiled again every second.
func (n *Node) failed(err error) {
	n.retryDelay = min(max(2*n.retryDelay, n.opts.Heartbeat), time.Minute)
	n.conv.Store(&convergence{applied: n.conv.Load().applied, failure: err.Error(), retryAt: time.Now().Add(n.retryDelay)})
}

// succeeded records a convergence to rollout.
func (n *Node) succeeded(rollout string) {
	n.retryDelay = 0
	n.conv.Store(&convergence{applied: rollout})
}
