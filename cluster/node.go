package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wasmhot/wasmhot/host"
)

// Options configure a node's membership. The zero value is usable.
type Options struct {
	// Prefix names the JetStream buckets (PREFIX_fleet, PREFIX_nodes,
	// PREFIX_code) and the subjects (PREFIX.node.NAME); "wasmhot" when
	// empty. Nodes of one fleet share it.
	Prefix string
	// Heartbeat is how often a node writes its record (1 s when zero);
	// NodeTTL how long a record lives without a new heartbeat (5 × the
	// heartbeat when zero). The first node to create the nodes bucket
	// sets its TTL for the fleet.
	Heartbeat, NodeTTL time.Duration
	// PrepareTimeout bounds the prepare phase on each node (60 s when
	// zero); FinishTimeout the finish phase (30 s when zero).
	PrepareTimeout, FinishTimeout time.Duration
	// Replicas is the JetStream replica count of the buckets (1 when zero).
	Replicas int
	// Logger receives the node's events (joined, converged, rollouts);
	// nil logs nothing.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = "wasmhot"
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.NodeTTL <= 0 {
		o.NodeTTL = 5 * o.Heartbeat
	}
	if o.PrepareTimeout <= 0 {
		o.PrepareTimeout = 60 * time.Second
	}
	if o.FinishTimeout <= 0 {
		o.FinishTimeout = 30 * time.Second
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// lockTTL is how long a rollout lock is honoured: after that, another
// coordinator may take it over (its holder died).
func (o Options) lockTTL() time.Duration { return o.PrepareTimeout + o.FinishTimeout + 30*time.Second }

// The keys of the fleet bucket.
const (
	keyDesired = "desired"
	keyLock    = "rollout"
)

// historyDepth is how many desired records the fleet bucket keeps: the
// audit log, and the versions a fleet rollback can go back to.
const historyDepth = 64

// Node is one wasmhot host in a fleet: it answers the fleet's rollouts,
// converges to the desired versions, and can coordinate rollouts itself.
// It is safe for concurrent use.
type Node struct {
	h    *host.Host
	nc   *nats.Conn
	js   jetstream.JetStream
	name string
	opts Options
	log  *slog.Logger

	fleet jetstream.KeyValue
	nodes jetstream.KeyValue
	// nodesStream is the nodes bucket's stream, to list its keys.
	nodesStream jetstream.Stream
	code        jetstream.ObjectStore

	sub     *nats.Subscription
	watcher jetstream.KeyWatcher
	started time.Time

	// mu orders the code changes the cluster makes on this node.
	mu      sync.Mutex
	pending map[string]*pending // prepared rollouts, by id
	// lastSwitch is when the node last made the desired versions current.
	lastSwitch time.Time
	// retryDelay is the delay before the heartbeat retries a failed
	// convergence.
	retryDelay time.Duration
	// conv is the outcome of the last convergence, written under mu and
	// read without it: a heartbeat does not wait for a prepare or a
	// convergence in progress to report the node.
	conv atomic.Pointer[convergence]

	// afterPrepare, set by tests, runs in a rollout this node coordinates
	// once every node prepared, before the decision.
	afterPrepare func()

	ready      atomic.Bool
	reconnects uint64
	hbNow      chan struct{}
	stop       chan struct{}
	// life ends when the node closes: the context of what it does on its
	// own (heartbeats, convergence, answers).
	life     context.Context
	end      context.CancelFunc
	stopOnce sync.Once
	// hmu orders the start of a request's goroutine (wg.Add) before
	// Close's wait for them.
	hmu sync.Mutex
	wg  sync.WaitGroup
}

// Join makes h a member of the fleet on nc under name: it creates the
// fleet's buckets if needed, answers requests on its subject, loads the
// desired versions (convergence), then reports itself ready in its
// heartbeat. If convergence fails, Join still returns the node, not ready,
// with the failure in Converged and its heartbeat; it retries at every
// heartbeat. Join fails only when the node cannot take part at all (a bad
// name, JetStream unavailable, another live node with the same name).
func Join(ctx context.Context, h *host.Host, nc *nats.Conn, name string, opts Options) (*Node, error) {
	if err := CheckNodeName(name); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: jetstream: %w", err)
	}
	n := &Node{
		h: h, nc: nc, js: js, name: name, opts: opts, log: opts.Logger.With("node", name),
		pending: map[string]*pending{}, hbNow: make(chan struct{}, 1), stop: make(chan struct{}),
		started: time.Now(),
	}
	n.conv.Store(&convergence{})
	n.life, n.end = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			n.end()
		}
	}()
	if err := n.buckets(ctx); err != nil {
		return nil, err
	}
	if err := n.claimName(ctx); err != nil {
		return nil, err
	}
	n.sub, err = nc.Subscribe(n.subject(name), n.handle)
	if err != nil {
		return nil, fmt.Errorf("cluster: subscribe: %w", err)
	}
	// The watch starts before the first convergence so that no change of
	// the desired versions falls between the two.
	n.watcher, err = n.fleet.Watch(ctx, keyDesired, jetstream.UpdatesOnly())
	if err != nil {
		_ = n.sub.Unsubscribe()
		return nil, fmt.Errorf("cluster: watch desired versions: %w", err)
	}
	n.reconnects = nc.Stats().Reconnects
	if err := n.converge(ctx); err != nil {
		n.log.Warn("not converged", "error", err)
	}
	n.beat(ctx)
	n.wg.Add(2)
	go n.heartbeats()
	go n.watch()
	n.log.Info("joined", "ready", n.ready.Load())
	ok = true
	return n, nil
}

func (n *Node) buckets(ctx context.Context) error {
	p := n.opts.Prefix
	var err error
	n.fleet, err = n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: p + "_fleet", Description: "wasmhot: the fleet's desired versions (history: the audit log) and the rollout lock",
		History: historyDepth, Replicas: n.opts.Replicas,
	})
	if err != nil {
		return fmt.Errorf("cluster: fleet bucket: %w", err)
	}
	n.nodes, err = n.js.KeyValue(ctx, p+"_nodes")
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		n.nodes, err = n.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: p + "_nodes", Description: "wasmhot: node heartbeats", History: 1,
			TTL: n.opts.NodeTTL, Replicas: n.opts.Replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			n.nodes, err = n.js.KeyValue(ctx, p+"_nodes")
		}
	}
	if err == nil {
		n.nodesStream, err = n.js.Stream(ctx, "KV_"+p+"_nodes")
	}
	if err != nil {
		return fmt.Errorf("cluster: nodes bucket: %w", err)
	}
	n.code, err = n.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: p + "_code", Description: "wasmhot: module bytes by sha256", Replicas: n.opts.Replicas,
	})
	if err != nil {
		return fmt.Errorf("cluster: code store: %w", err)
	}
	return nil
}

// claimName refuses to join under the name of a node that is alive: one
// that answers on its subject.
func (n *Node) claimName(ctx context.Context) error {
	if _, err := n.nodes.Get(ctx, n.name); errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	msg, err := n.nc.Request(n.subject(n.name), []byte(`{"op":"ping"}`), 500*time.Millisecond)
	if err == nil && msg != nil {
		return fmt.Errorf("cluster: a live node is already named %q", n.name)
	}
	return nil
}

func (n *Node) subject(node string) string { return n.opts.Prefix + ".node." + node }

// Name is the node's name in the fleet.
func (n *Node) Name() string { return n.name }

// Host is the node's host.
func (n *Node) Host() *host.Host { return n.h }

// Ready reports whether the node has converged to the fleet's desired
// versions at least once.
func (n *Node) Ready() bool { return n.ready.Load() }

// Converged reports the rollout of the desired versions the node last
// converged to, and the last convergence failure ("" when none).
func (n *Node) Converged() (rollout, failure string) {
	c := n.conv.Load()
	return c.applied, c.failure
}

// convergence is the outcome of a node's last convergence: the rollout
// whose desired versions it converged to, and, when the last attempt
// failed, why and when the heartbeat retries it.
type convergence struct {
	applied, failure string
	retryAt          time.Time
}

// Close leaves the fleet: it stops answering, discards prepared rollouts
// and deletes its heartbeat. The host is left running.
func (n *Node) Close() error {
	n.stopOnce.Do(func() {
		n.hmu.Lock()
		close(n.stop)
		n.hmu.Unlock()
		n.end() // what the node is doing (a convergence, a heartbeat) stops
		_ = n.sub.Unsubscribe()
		_ = n.watcher.Stop()
		n.wg.Wait()
		n.mu.Lock()
		for id, p := range n.pending {
			p.discard()
			delete(n.pending, id)
		}
		n.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = n.nodes.Delete(ctx, n.name)
		n.log.Info("left")
	})
	return nil
}

func (n *Node) closed() bool {
	select {
	case <-n.stop:
		return true
	default:
		return false
	}
}

// heartbeats writes the node's record every heartbeat, retries a failed
// convergence, and converges again after a reconnect to NATS (changes of
// the desired versions may have been missed while away).
func (n *Node) heartbeats() {
	defer n.wg.Done()
	t := time.NewTicker(n.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		case <-n.hbNow:
		}
		ctx, cancel := context.WithTimeout(n.life, n.opts.PrepareTimeout)
		c := n.conv.Load()
		retry := c.failure != "" && !time.Now().Before(c.retryAt)
		if rc := n.nc.Stats().Reconnects; rc != n.reconnects {
			n.reconnects = rc
			retry = true
		}
		if retry {
			if err := n.converge(ctx); err != nil {
				n.log.Warn("not converged", "error", err)
			}
		}
		n.beat(ctx)
		cancel()
	}
}

// beatSoon asks for a heartbeat now (after a change of code).
func (n *Node) beatSoon() {
	select {
	case n.hbNow <- struct{}{}:
	default:
	}
}

func (n *Node) beat(ctx context.Context) {
	c := n.conv.Load()
	rec := NodeRecord{
		Name: n.name, Ready: n.ready.Load(), Started: n.started, Seen: time.Now(),
		Applied: c.applied, Error: c.failure, Modules: moduleStates(n.h),
	}
	b, _ := json.Marshal(rec)
	// A heartbeat that cannot be written within the TTL is of no use: it
	// does not wait longer (while NATS is unreachable, say).
	ctx, cancel := context.WithTimeout(ctx, n.opts.NodeTTL)
	defer cancel()
	if _, err := n.nodes.Put(ctx, n.name, b); err != nil && !n.closed() {
		n.log.Warn("heartbeat", "error", err)
	}
}

// watch converges on every change of the desired versions.
func (n *Node) watch() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case e, ok := <-n.watcher.Updates():
			if !ok {
				return
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			d, err := decodeDesired(e)
			if err != nil {
				n.log.Warn("bad desired record", "revision", e.Revision(), "error", err)
				continue
			}
			ctx, cancel := context.WithTimeout(n.life, n.opts.PrepareTimeout)
			if err := n.convergeTo(ctx, d); err != nil {
				n.log.Warn("not converged", "rollout", d.Rollout, "error", err)
			}
			cancel()
			n.beatSoon()
		}
	}
}

func decodeDesired(e jetstream.KeyValueEntry) (*Desired, error) {
	var d Desired
	if err := json.Unmarshal(e.Value(), &d); err != nil {
		return nil, err
	}
	if d.Modules == nil {
		d.Modules = map[string]ModuleRecord{}
	}
	d.Revision = e.Revision()
	return &d, nil
}

// desired reads the fleet's desired versions; an empty record (revision
// 0) when none was ever written.
func (n *Node) desired(ctx context.Context) (*Desired, error) {
	e, err := n.fleet.Get(ctx, keyDesired)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return &Desired{Modules: map[string]ModuleRecord{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: read desired versions: %w", err)
	}
	return decodeDesired(e)
}
