package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/modules"
)

// NodeResult is what one node answered in a rollout: its prepare answer,
// and its finish answer when the rollout got that far.
type NodeResult struct {
	Node    string      `json:"node"`
	Prepare NodeAnswer  `json:"prepare"`
	Finish  *NodeAnswer `json:"finish,omitempty"`
}

// Switched reports whether the node made the rollout's versions current.
func (r NodeResult) Switched() bool { return r.Finish != nil && r.Finish.OK() }

// Report describes a rollout: what it rolled out, each node's answers,
// and how long its phases took as the coordinator saw them.
type Report struct {
	Rollout string         `json:"rollout"`
	Op      Op             `json:"op"`
	Modules []ModuleRecord `json:"modules"`
	Nodes   []NodeResult   `json:"nodes"`
	// Committed reports whether the fleet's desired versions changed (the
	// rollout's decision point).
	Committed bool `json:"committed"`
	// Prepare and Finish are the durations of the two phases; Spread is
	// the time between the first and the last node's switch.
	Prepare time.Duration `json:"prepare"`
	Finish  time.Duration `json:"finish"`
	Spread  time.Duration `json:"spread"`
}

// Load rolls srcs out to every live node as one unit (code:atomic_load/1
// on each node, all nodes or none): the bytes go to the code store, every
// node prepares them (fetch, compile, check imports against its own
// policy), and only when all prepared do the desired versions change and
// every node switch. With purge, each node purges the modules' old code
// before its switch (c:l/1); without it a node that still has old code
// refuses, and the rollout aborts with ErrAborted, changing nothing.
//
// It fails with ErrBusy while another rollout runs, ErrAborted when a node
// refused or did not answer the prepare, ErrPartial when the rollout was
// decided but a node did not report its switch (it converges later).
func (n *Node) Load(ctx context.Context, srcs []host.Source, purge bool) (*Report, error) {
	if len(srcs) == 0 {
		return nil, errors.New("cluster: nothing to load")
	}
	recs := make([]ModuleRecord, 0, len(srcs))
	seen := map[string]bool{}
	for _, src := range srcs {
		if err := modules.CheckName(src.Name); err != nil {
			return nil, err
		}
		if seen[src.Name] {
			return nil, fmt.Errorf("module[%s]: %w", src.Name, modules.ErrDuplicate)
		}
		seen[src.Name] = true
		rec, err := n.upload(ctx, src)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	op := OpLoad
	if purge {
		op = OpReload
	}
	return n.rollout(ctx, op, nil, recs, nil)
}

// upload puts a module's bytes in the code store under their sha256,
// unless they are there already.
func (n *Node) upload(ctx context.Context, src host.Source) (ModuleRecord, error) {
	sum := sha256.Sum256(src.Wasm)
	rec := ModuleRecord{Name: src.Name, SHA256: hex.EncodeToString(sum[:]), Size: len(src.Wasm)}
	tag, err := modules.VsnTag(src.Wasm)
	if err != nil {
		return rec, fmt.Errorf("module[%s]: %w: %w", src.Name, host.ErrBadModule, err)
	}
	if tag == "" {
		tag = modules.DefaultVsnTag(sum)
	}
	rec.VsnTag = tag
	if info, err := n.code.GetInfo(ctx, rec.SHA256); err == nil && info.Size == uint64(len(src.Wasm)) {
		return rec, nil
	}
	if _, err := n.code.PutBytes(ctx, rec.SHA256, src.Wasm); err != nil {
		return rec, fmt.Errorf("module[%s]: store its bytes: %w", src.Name, err)
	}
	return rec, nil
}

// Rollback makes the previous desired version of each module (the last
// different one in the desired versions' history) current on every live
// node, as one rollout: a node that still has that version as old code
// swaps it back without a compile (Host.Rollback); the others load it from
// the code store, purging their old code first.
func (n *Node) Rollback(ctx context.Context, names ...string) (*Report, error) {
	if len(names) == 0 {
		return nil, errors.New("cluster: nothing to roll back")
	}
	for _, name := range names {
		if err := modules.CheckName(name); err != nil {
			return nil, err
		}
	}
	prev := func(d *Desired) ([]ModuleRecord, error) {
		hist, err := n.fleet.History(ctx, keyDesired)
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("cluster: desired versions' history: %w", err)
		}
		var recs []ModuleRecord
		for _, name := range names {
			rec, ok := previous(hist, d, name)
			if !ok {
				return nil, fmt.Errorf("module[%s]: %w in the last %d rollouts", name, ErrNoPrevious, historyDepth)
			}
			recs = append(recs, rec)
		}
		return recs, nil
	}
	return n.rollout(ctx, OpRollback, names, nil, prev)
}

// previous finds the newest version of name in the history that differs
// from the desired one (or any version, when name is deleted or unknown).
func previous(hist []jetstream.KeyValueEntry, d *Desired, name string) (ModuleRecord, bool) {
	cur, ok := d.Modules[name]
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Operation() != jetstream.KeyValuePut {
			continue
		}
		var h Desired
		if json.Unmarshal(hist[i].Value(), &h) != nil {
			continue
		}
		rec, has := h.Modules[name]
		if !has || rec.Deleted {
			continue
		}
		if !ok || cur.Deleted || rec.SHA256 != cur.SHA256 {
			return rec, true
		}
	}
	return ModuleRecord{}, false
}

// Delete marks module deleted in the desired versions, then every live
// node purges its old code and deletes it (code:delete), as nodes that
// start or reconnect later do.
func (n *Node) Delete(ctx context.Context, module string) (*Report, error) {
	if err := modules.CheckName(module); err != nil {
		return nil, err
	}
	return n.rollout(ctx, OpDelete, nil, []ModuleRecord{{Name: module, Deleted: true}}, nil)
}

// rollout runs one serialised change of the desired versions: take the
// lock, prepare on every live node, write the new desired versions (the
// decision), finish on every node, release the lock. A delete has no
// prepare phase. recsOf, when set, computes the records of the modules
// names from the desired versions read under the lock (rollback).
func (n *Node) rollout(ctx context.Context, op Op, names []string, recs []ModuleRecord, recsOf func(*Desired) ([]ModuleRecord, error)) (*Report, error) {
	if n.closed() {
		return nil, ErrClosed
	}
	id := newID()
	for _, r := range recs {
		names = append(names, r.Name)
	}
	lockRev, err := n.acquire(ctx, id, op, names)
	if err != nil {
		return nil, err
	}
	defer n.release(lockRev)
	d, err := n.desired(ctx)
	if err != nil {
		return nil, err
	}
	if recsOf != nil {
		if recs, err = recsOf(d); err != nil {
			return nil, err
		}
	}
	rep := &Report{Rollout: id, Op: op, Modules: recs}
	live, err := n.liveNodes(ctx)
	if err != nil {
		return rep, err
	}
	if len(live) == 0 {
		return rep, ErrNoNodes
	}
	results := make(map[string]*NodeResult, len(live))
	for _, name := range live {
		results[name] = &NodeResult{Node: name}
	}
	asked := live
	defer func() {
		for _, name := range asked {
			rep.Nodes = append(rep.Nodes, *results[name])
		}
	}()

	if op != OpDelete {
		began := time.Now()
		answers := n.multicall(ctx, live, request{Op: "prepare", Rollout: id, Kind: op, Modules: recs}, n.opts.PrepareTimeout)
		rep.Prepare = time.Since(began)
		var refused []string
		var present []string
		for _, a := range answers {
			results[a.Node].Prepare = a
			switch {
			case a.Gone:
				// Not connected: not a refusal. It converges when it
				// comes back, as a node that was down.
			case !a.OK():
				refused = append(refused, a.Node+": "+a.Err)
				present = append(present, a.Node)
			default:
				present = append(present, a.Node)
			}
		}
		live = present
		if len(refused) > 0 {
			n.multicall(context.WithoutCancel(ctx), live, request{Op: "abort", Rollout: id}, n.opts.FinishTimeout)
			n.log.Warn("rollout aborted", "rollout", id, "op", op, "refused", len(refused))
			return rep, fmt.Errorf("%w: %d of %d nodes refused; no node changed: %s", ErrAborted, len(refused), len(live), strings.Join(refused, "; "))
		}
	}

	if n.afterPrepare != nil {
		n.afterPrepare()
	}
	next := &Desired{Rollout: id, Op: op, By: n.name, At: time.Now(), Modules: maps.Clone(d.Modules)}
	for _, r := range recs {
		next.Modules[r.Name] = r
	}
	if err := n.commit(ctx, next, d.Revision); err != nil {
		n.multicall(context.WithoutCancel(ctx), live, request{Op: "abort", Rollout: id}, n.opts.FinishTimeout)
		return rep, fmt.Errorf("%w: %w", ErrAborted, err)
	}
	rep.Committed = true

	// From here the rollout is decided: nodes that miss the finish catch
	// up from the desired versions.
	began := time.Now()
	// A delete has nothing prepared: its finish is each node's
	// convergence to the desired versions that mark the module deleted.
	answers := n.multicall(context.WithoutCancel(ctx), live, request{Op: "finish", Rollout: id}, n.opts.FinishTimeout)
	rep.Finish = time.Since(began)
	var failed []string
	var first, last time.Time
	for _, a := range answers {
		results[a.Node].Finish = &a
		if !a.OK() {
			failed = append(failed, a.Node+": "+a.Err)
			continue
		}
		if !a.Switched.IsZero() {
			if first.IsZero() || a.Switched.Before(first) {
				first = a.Switched
			}
			if a.Switched.After(last) {
				last = a.Switched
			}
		}
	}
	rep.Spread = last.Sub(first)
	n.log.Info("rollout", "rollout", id, "op", op, "nodes", len(live), "failed", len(failed),
		"prepare", rep.Prepare, "finish", rep.Finish, "spread", rep.Spread)
	if len(failed) > 0 {
		return rep, fmt.Errorf("%w: %d of %d nodes: %s", ErrPartial, len(failed), len(live), strings.Join(failed, "; "))
	}
	return rep, nil
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// acquire takes the rollout lock: created if absent, taken over if its
// holder let it expire, else ErrBusy naming the rollout that holds it.
func (n *Node) acquire(ctx context.Context, id string, op Op, names []string) (uint64, error) {
	now := time.Now()
	l := Lock{Rollout: id, Op: op, By: n.name, Modules: names, Started: now, Expires: now.Add(n.opts.lockTTL())}
	b, _ := json.Marshal(l)
	for range 3 {
		rev, err := n.fleet.Create(ctx, keyLock, b)
		if err == nil {
			return rev, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("cluster: rollout lock: %w", err)
		}
		e, err := n.fleet.Get(ctx, keyLock)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return 0, fmt.Errorf("cluster: rollout lock: %w", err)
		}
		var held Lock
		_ = json.Unmarshal(e.Value(), &held)
		if time.Now().Before(held.Expires) {
			return 0, fmt.Errorf("%w: rollout %s (%s of %s) by node %s since %s", ErrBusy,
				held.Rollout, held.Op, strings.Join(held.Modules, ", "), held.By, held.Started.Format(time.RFC3339))
		}
		if rev, err := n.fleet.Update(ctx, keyLock, b, e.Revision()); err == nil {
			n.log.Warn("took over an expired rollout lock", "rollout", held.Rollout, "by", held.By)
			return rev, nil
		}
	}
	return 0, fmt.Errorf("%w: the rollout lock changed hands while being taken", ErrBusy)
}

func (n *Node) release(rev uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.fleet.Delete(ctx, keyLock, jetstream.LastRevision(rev))
}

// commit writes the new desired versions if nobody wrote since rev.
func (n *Node) commit(ctx context.Context, d *Desired, rev uint64) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if rev == 0 {
		_, err = n.fleet.Create(ctx, keyDesired, b)
	} else {
		_, err = n.fleet.Update(ctx, keyDesired, b, rev)
	}
	if err != nil {
		return fmt.Errorf("the desired versions changed during the rollout: %w", err)
	}
	return nil
}

// liveNodes lists the nodes with a heartbeat that are ready, by name.
func (n *Node) liveNodes(ctx context.Context) ([]string, error) {
	recs, err := n.nodeRecords(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range recs {
		if r.Ready {
			out = append(out, r.Name)
		}
	}
	return out, nil
}

func (n *Node) nodeRecords(ctx context.Context) ([]NodeRecord, error) {
	// The keys come from the bucket's stream (one request, exact while
	// heartbeats are written: a key-value listing is a watch, which can
	// end early then), and the records are read in parallel.
	prefix := "$KV." + n.opts.Prefix + "_nodes."
	info, err := n.nodesStream.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return nil, fmt.Errorf("cluster: list nodes: %w", err)
	}
	keys := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		keys = append(keys, strings.TrimPrefix(subj, prefix))
	}
	sort.Strings(keys)
	recs := make([]*NodeRecord, len(keys))
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Go(func() {
			e, err := n.nodes.Get(ctx, key)
			if err != nil {
				return // expired or deleted meanwhile
			}
			var r NodeRecord
			if json.Unmarshal(e.Value(), &r) == nil && r.Name == key {
				recs[i] = &r
			}
		})
	}
	wg.Wait()
	out := make([]NodeRecord, 0, len(recs))
	for _, r := range recs {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out, nil
}

// multicall sends req to every node in parallel and collects one answer
// per node, in the order of nodes; a node that does not answer within
// timeout gets an answer saying so.
func (n *Node) multicall(ctx context.Context, nodes []string, req request, timeout time.Duration) []NodeAnswer {
	b, _ := json.Marshal(req)
	out := make([]NodeAnswer, len(nodes))
	var wg sync.WaitGroup
	for i, name := range nodes {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			msg, err := n.nc.RequestWithContext(cctx, n.subject(name), b)
			a := NodeAnswer{Node: name}
			switch {
			case errors.Is(err, nats.ErrNoResponders):
				a.Err, a.Gone = "no answer: the node is not connected", true
			case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
				a.Err = "no answer within " + timeout.String()
			case err != nil:
				a.Err = "no answer: " + err.Error()
			default:
				if jerr := json.Unmarshal(msg.Data, &a); jerr != nil {
					a = NodeAnswer{Node: name, Err: "bad answer: " + jerr.Error()}
				}
				a.Node = name
			}
			out[i] = a
		})
	}
	wg.Wait()
	return out
}

// Purge purges module's old code on every live node (code:purge/1 by
// rpc:multicall): each answer says how many processes it killed.
func (n *Node) Purge(ctx context.Context, module string) ([]NodeAnswer, error) {
	return n.everywhere(ctx, request{Op: "purge", Module: module})
}

// SoftPurge soft-purges module on every live node (code:soft_purge/1 by
// rpc:multicall): each answer says whether the node freed the old code.
func (n *Node) SoftPurge(ctx context.Context, module string) ([]NodeAnswer, error) {
	return n.everywhere(ctx, request{Op: "soft-purge", Module: module})
}

func (n *Node) everywhere(ctx context.Context, req request) ([]NodeAnswer, error) {
	if err := modules.CheckName(req.Module); err != nil {
		return nil, err
	}
	live, err := n.liveNodes(ctx)
	if err != nil {
		return nil, err
	}
	if len(live) == 0 {
		return nil, ErrNoNodes
	}
	answers := n.multicall(ctx, live, req, n.opts.PrepareTimeout)
	var failed []string
	for _, a := range answers {
		if !a.OK() {
			failed = append(failed, a.Node+": "+a.Err)
		}
	}
	if len(failed) > 0 {
		return answers, fmt.Errorf("%w: %s failed on %d of %d nodes: %s", ErrPartial, req.Op, len(failed), len(live), strings.Join(failed, "; "))
	}
	return answers, nil
}

// Status is the fleet as the buckets tell it: the desired versions, the
// rollout in flight, and each live node's record.
type Status struct {
	Desired *Desired     `json:"desired"`
	Rollout *Lock        `json:"rollout,omitempty"`
	Nodes   []NodeStatus `json:"nodes"`
}

// NodeStatus is a node's last heartbeat, how old it is, and whether its
// current versions are the desired ones.
type NodeStatus struct {
	NodeRecord
	Age    time.Duration `json:"age"`
	InSync bool          `json:"in_sync"`
	// Differs names the desired modules whose current version on the node
	// is another (or none).
	Differs []string `json:"differs,omitempty"`
}

// Status reads the fleet's state.
func (n *Node) Status(ctx context.Context) (*Status, error) {
	d, err := n.desired(ctx)
	if err != nil {
		return nil, err
	}
	st := &Status{Desired: d}
	if e, err := n.fleet.Get(ctx, keyLock); err == nil {
		var l Lock
		if json.Unmarshal(e.Value(), &l) == nil {
			st.Rollout = &l
		}
	}
	recs, err := n.nodeRecords(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for _, r := range recs {
		ns := NodeStatus{NodeRecord: r, Age: now.Sub(r.Seen).Round(time.Millisecond)}
		ns.Differs = differs(d, r.Modules)
		ns.InSync = len(ns.Differs) == 0
		st.Nodes = append(st.Nodes, ns)
	}
	return st, nil
}

// differs names the modules whose current version in mods is not the
// desired one.
func differs(d *Desired, mods []ModuleState) []string {
	cur := make(map[string]string, len(mods))
	for _, m := range mods {
		if m.Current != nil {
			cur[m.Name] = m.Current.SHA256
		}
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(d.Modules)) {
		rec := d.Modules[name]
		sum, has := cur[name]
		if rec.Deleted && has || !rec.Deleted && sum != rec.SHA256 {
			out = append(out, name)
		}
	}
	return out
}

// History returns the fleet's audit log: the desired versions written by
// each rollout still in the fleet bucket's history (up to 64), newest
// first.
func (n *Node) History(ctx context.Context) ([]Desired, error) {
	hist, err := n.fleet.History(ctx, keyDesired)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return []Desired{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: desired versions' history: %w", err)
	}
	out := make([]Desired, 0, len(hist))
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Operation() != jetstream.KeyValuePut {
			continue
		}
		d, err := decodeDesired(hist[i])
		if err != nil {
			continue
		}
		out = append(out, *d)
	}
	return out, nil
}
