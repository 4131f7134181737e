package cluster

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/wasmhot/wasmhot/host"
)

// Errors of the cluster API; match them with errors.Is.
var (
	// ErrBusy: another rollout holds the fleet's rollout lock.
	ErrBusy = errors.New("cluster: a rollout is in flight")
	// ErrAborted: a node refused (or did not answer) the prepare phase;
	// no node changed.
	ErrAborted = errors.New("cluster: rollout aborted")
	// ErrPartial: the rollout was decided (the desired versions changed)
	// but some live nodes did not report the switch; they catch up when
	// they can (convergence). A purge or soft purge that failed on some
	// nodes fails with it too.
	ErrPartial = errors.New("cluster: not every node switched")
	// ErrNoNodes: no live, ready node to act on.
	ErrNoNodes = errors.New("cluster: no live node")
	// ErrNoPrevious: a fleet rollback of a module whose desired versions
	// have no earlier, different version in the history.
	ErrNoPrevious = errors.New("cluster: no previous version")
	// ErrBadNodeName: not a node name.
	ErrBadNodeName = errors.New("cluster: bad node name")
	// ErrChecksum: bytes from the object store whose sha256 is not the
	// desired one; the node refuses them.
	ErrChecksum = errors.New("cluster: sha256 mismatch")
	// ErrClosed: the node left the cluster.
	ErrClosed = errors.New("cluster: node closed")
)

var nodeNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// CheckNodeName accepts 1 to 64 letters, digits, '_' and '-': a name that
// is one NATS subject token and one key-value key.
func CheckNodeName(name string) error {
	if !nodeNameRE.MatchString(name) {
		return fmt.Errorf("%w: %q (1 to 64 letters, digits, '_' or '-')", ErrBadNodeName, clip(name))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Op names what a rollout does.
type Op string

// The rollout operations.
const (
	OpLoad     Op = "load"     // code:load on every node: old code must be purged
	OpReload   Op = "reload"   // c:l on every node: old code is purged first
	OpRollback Op = "rollback" // the previous desired version comes back
	OpDelete   Op = "delete"   // code:delete on every node
)

// ModuleRecord is one module's desired version: its bytes are the object
// named SHA256 in the code store.
type ModuleRecord struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	VsnTag string `json:"vsn_tag,omitempty"`
	Size   int    `json:"size,omitempty"`
	// Deleted marks a module deleted across the fleet: nodes that still
	// have current code for it delete it when they converge.
	Deleted bool `json:"deleted,omitempty"`
}

// Desired is the fleet's desired versions: the value of the key "desired"
// in the fleet bucket. Every rollout writes a new one; the key's history
// is the audit log.
type Desired struct {
	Rollout string                  `json:"rollout"`
	Op      Op                      `json:"op"`
	By      string                  `json:"by"`
	At      time.Time               `json:"at"`
	Modules map[string]ModuleRecord `json:"modules"`
	// Revision is the key-value revision the record was read at.
	Revision uint64 `json:"-"`
}

// Lock is the rollout lock: the key "rollout" in the fleet bucket, there
// while a rollout runs.
type Lock struct {
	Rollout string    `json:"rollout"`
	Op      Op        `json:"op"`
	By      string    `json:"by"`
	Modules []string  `json:"modules"`
	Started time.Time `json:"started"`
	Expires time.Time `json:"expires"`
}

// VersionState is one loaded version on a node.
type VersionState struct {
	Vsn    uint64 `json:"vsn"`
	VsnTag string `json:"vsn_tag"`
	SHA256 string `json:"sha256"`
}

// ModuleState is one module on a node.
type ModuleState struct {
	Name    string        `json:"name"`
	Current *VersionState `json:"current,omitempty"`
	Old     *VersionState `json:"old,omitempty"`
}

// NodeRecord is a node's heartbeat: its key in the nodes bucket, put every
// heartbeat and gone after the bucket's TTL when the node stops.
type NodeRecord struct {
	Name    string    `json:"name"`
	Ready   bool      `json:"ready"`
	Started time.Time `json:"started"`
	Seen    time.Time `json:"seen"`
	// Applied is the rollout of the desired versions the node last
	// converged to; Error the last convergence failure.
	Applied string        `json:"applied,omitempty"`
	Error   string        `json:"error,omitempty"`
	Modules []ModuleState `json:"modules"`
}

func moduleStates(h *host.Host) []ModuleState {
	mods := h.Modules()
	out := make([]ModuleState, len(mods))
	for i, m := range mods {
		out[i] = ModuleState{Name: m.Name, Current: versionState(m.Current), Old: versionState(m.Old)}
	}
	return out
}

func versionState(v *host.VersionInfo) *VersionState {
	if v == nil {
		return nil
	}
	return &VersionState{Vsn: v.Vsn, VsnTag: v.VsnTag, SHA256: v.SHA256}
}

// request is what a node is asked on its subject.
type request struct {
	Op      string         `json:"op"` // ping, prepare, finish, abort, purge, soft-purge
	Rollout string         `json:"rollout,omitempty"`
	Kind    Op             `json:"kind,omitempty"` // the rollout's operation
	Modules []ModuleRecord `json:"modules,omitempty"`
	Module  string         `json:"module,omitempty"`
}

// NodeAnswer is one node's answer to a cluster operation.
type NodeAnswer struct {
	Node string `json:"node"`
	// Err is empty when the node did what it was asked.
	Err string `json:"error,omitempty"`
	// Gone: nobody answers on the node's subject (it is not connected to
	// NATS). A rollout leaves a node gone at prepare out; it converges
	// when it comes back.
	Gone bool `json:"gone,omitempty"`
	// Took is how long the node took (prepare, finish, purge...).
	Took time.Duration `json:"took"`
	// Switched is when the node made the new versions current (finish).
	Switched time.Time `json:"switched,omitzero"`
	// Modules is the node's modules after the operation.
	Modules []ModuleState `json:"modules,omitempty"`
	// Purge results: Killed processes; Freed old code (soft purge).
	Killed int  `json:"killed,omitempty"`
	Freed  bool `json:"freed,omitempty"`
}

// OK reports whether the node did what it was asked.
func (a NodeAnswer) OK() bool { return a.Err == "" }
