package control

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/wasmhot/wasmhot/cluster"
	"github.com/wasmhot/wasmhot/modules"
)

// The fleet's endpoints (package cluster) act through Options.Cluster, the
// node's membership: POST /v1/cluster/load, /v1/cluster/rollback,
// /v1/cluster/delete, /v1/cluster/purge, /v1/cluster/soft-purge and GET
// /v1/cluster/status. A node that is not in a fleet answers them with
// no_cluster. They take no admission slot and not the server's code lock:
// the fleet orders its own changes (its rollout lock).
//
// A rollout that ran answers 200 with its report, even when it failed
// (RolloutResponse.Code aborted or partial), so that a client always gets
// each node's answers. A rollout refused before it ran (a bad name, another
// rollout in flight, no live node, no previous version) is an error reply
// like any other.

// ClusterLoadRequest rolls modules out to every live node of the fleet as
// one unit (cluster.Node.Load): every node prepares them, and only when
// all did does any switch. Without Purge a node that still has old code
// of one of them refuses, and nothing changes anywhere; with Purge each
// node purges the old code first, as c:l/1.
type ClusterLoadRequest struct {
	Modules []ModuleSource `json:"modules"`
	Purge   bool           `json:"purge,omitempty"`
}

// ClusterRollbackRequest rolls the fleet back to the previous desired
// version of Module, or of each of Modules as one rollout.
type ClusterRollbackRequest struct {
	Module  string   `json:"module,omitempty"`
	Modules []string `json:"modules,omitempty"`
}

// RolloutResponse is the answer of a fleet rollout (load, rollback,
// delete): its report (each node's prepare and finish answers, the
// phases' durations) and, when it failed, why: Code is CodeAborted (a
// node refused or did not answer the prepare; no node changed) or
// CodePartial (the rollout was decided but some node did not report its
// switch; it converges later). Both are empty on success.
type RolloutResponse struct {
	Report *cluster.Report `json:"report"`
	Error  string          `json:"error"`
	Code   string          `json:"code"`
}

// ClusterAnswersResponse is the answer of a fleet purge or soft purge:
// each live node's answer and, when some node failed, why (Code
// CodePartial).
type ClusterAnswersResponse struct {
	Answers []cluster.NodeAnswer `json:"answers"`
	Error   string               `json:"error"`
	Code    string               `json:"code"`
}

// RollbackResponse is the answer of a local rollback: the module after
// it, its old version current again.
type RollbackResponse struct {
	Module Module `json:"module"`
}

// errNoCluster is the error of a fleet endpoint on a node not in a fleet.
var errNoCluster = &Error{Status: http.StatusNotFound, Code: CodeNoCluster,
	Message: "this node is not in a fleet (start it with wasmhot serve --cluster NATS_URL or --nats-embedded HOST:PORT)"}

// rolloutWriteTimeout bounds the answer of a fleet operation: its phases
// run up to their timeouts on every node (by default a minute to prepare
// and half a minute to finish), longer than WriteTimeout.
const rolloutWriteTimeout = 5 * time.Minute

// fleet returns the node's membership, or the no_cluster error, and
// moves the answer's write deadline past the fleet's timeouts.
func (s *Server) fleet(w http.ResponseWriter) (*cluster.Node, error) {
	if s.opts.Cluster == nil {
		return nil, errNoCluster
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(rolloutWriteTimeout))
	return s.opts.Cluster, nil
}

// rollback makes a module's old version current again on this node
// (host.Rollback).
func (s *Server) rollback(w http.ResponseWriter, r *http.Request) (any, error) {
	name, err := s.moduleArg(w, r)
	if err != nil {
		return nil, err
	}
	s.codeMu.Lock()
	defer s.codeMu.Unlock()
	_, err = s.opts.Host.Rollback(r.Context(), name)
	s.syncState()
	if err != nil {
		return nil, err
	}
	mi, err := s.opts.Host.Which(name)
	if err != nil {
		return nil, err
	}
	return RollbackResponse{Module: moduleJSON(mi)}, nil
}

func (s *Server) clusterLoad(w http.ResponseWriter, r *http.Request) (any, error) {
	n, err := s.fleet(w)
	if err != nil {
		return nil, err
	}
	var req ClusterLoadRequest
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	srcs, err := sources("cluster load", req.Modules, false)
	if err != nil {
		return nil, err
	}
	rep, err := n.Load(r.Context(), srcs, req.Purge)
	s.syncAfter()
	return rolloutAnswer(rep, err)
}

func (s *Server) clusterRollback(w http.ResponseWriter, r *http.Request) (any, error) {
	n, err := s.fleet(w)
	if err != nil {
		return nil, err
	}
	var req ClusterRollbackRequest
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	names := req.Modules
	if req.Module != "" {
		if len(names) > 0 {
			return nil, badRequest("cluster rollback: give module or modules, not both")
		}
		names = []string{req.Module}
	}
	if len(names) == 0 {
		return nil, badRequest("cluster rollback: no module")
	}
	seen := map[string]bool{}
	for _, name := range names {
		if err := modules.CheckName(name); err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, badRequest("cluster rollback: module %s given twice", name)
		}
		seen[name] = true
	}
	rep, err := n.Rollback(r.Context(), names...)
	s.syncAfter()
	return rolloutAnswer(rep, err)
}

func (s *Server) clusterDelete(w http.ResponseWriter, r *http.Request) (any, error) {
	n, err := s.fleet(w)
	if err != nil {
		return nil, err
	}
	name, err := s.moduleArg(w, r)
	if err != nil {
		return nil, err
	}
	rep, err := n.Delete(r.Context(), name)
	s.syncAfter()
	return rolloutAnswer(rep, err)
}

func (s *Server) clusterPurge(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.clusterEverywhere(w, r, (*cluster.Node).Purge)
}

func (s *Server) clusterSoftPurge(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.clusterEverywhere(w, r, (*cluster.Node).SoftPurge)
}

// clusterEverywhere runs a purge or soft purge of the request's module on
// every live node.
func (s *Server) clusterEverywhere(w http.ResponseWriter, r *http.Request, op func(*cluster.Node, context.Context, string) ([]cluster.NodeAnswer, error)) (any, error) {
	n, err := s.fleet(w)
	if err != nil {
		return nil, err
	}
	name, err := s.moduleArg(w, r)
	if err != nil {
		return nil, err
	}
	answers, err := op(n, r.Context(), name)
	s.syncAfter()
	if answers == nil {
		return nil, err // nothing ran
	}
	res := ClusterAnswersResponse{Answers: answers}
	if err != nil {
		res.Error, res.Code = err.Error(), CodePartial
	}
	return res, nil
}

func (s *Server) clusterStatus(w http.ResponseWriter, r *http.Request) (any, error) {
	n, err := s.fleet(w)
	if err != nil {
		return nil, err
	}
	return n.Status(r.Context())
}

// rolloutAnswer is the answer of a rollout: its report when it ran (with
// the error, if any, beside it), else the error.
func rolloutAnswer(rep *cluster.Report, err error) (any, error) {
	switch {
	case err == nil:
		return RolloutResponse{Report: rep}, nil
	case rep != nil && errors.Is(err, cluster.ErrAborted):
		return RolloutResponse{Report: rep, Error: err.Error(), Code: CodeAborted}, nil
	case rep != nil && errors.Is(err, cluster.ErrPartial):
		return RolloutResponse{Report: rep, Error: err.Error(), Code: CodePartial}, nil
	}
	return nil, err
}

// Rollback makes module's old version current again on the node, and its
// current version old (no compile); it fails with no_old when the module
// has no old code, sticky_directory when it is sticky.
func (c *Client) Rollback(ctx context.Context, module string) (Module, error) {
	var res RollbackResponse
	return res.Module, c.do(ctx, http.MethodPost, "/v1/rollback", ModuleRequest{module}, &res)
}

// ClusterLoad rolls modules out to the node's fleet; see
// ClusterLoadRequest. A rollout that ran returns its report, and, when it
// failed, an *Error with Code CodeAborted or CodePartial beside it.
func (c *Client) ClusterLoad(ctx context.Context, req ClusterLoadRequest) (*cluster.Report, error) {
	return c.rollout(ctx, "/v1/cluster/load", req)
}

// ClusterRollback rolls the fleet back to the previous desired version of
// each module, as one rollout; the report and error are as ClusterLoad's.
func (c *Client) ClusterRollback(ctx context.Context, modules ...string) (*cluster.Report, error) {
	return c.rollout(ctx, "/v1/cluster/rollback", ClusterRollbackRequest{Modules: modules})
}

// ClusterDelete deletes module on every node of the fleet; the report and
// error are as ClusterLoad's.
func (c *Client) ClusterDelete(ctx context.Context, module string) (*cluster.Report, error) {
	return c.rollout(ctx, "/v1/cluster/delete", ModuleRequest{module})
}

// ClusterPurge purges module's old code on every live node of the fleet
// and returns each node's answer; when some failed, an *Error with Code
// CodePartial beside them.
func (c *Client) ClusterPurge(ctx context.Context, module string) ([]cluster.NodeAnswer, error) {
	return c.everywhere(ctx, "/v1/cluster/purge", module)
}

// ClusterSoftPurge soft-purges module on every live node of the fleet;
// the answers and error are as ClusterPurge's.
func (c *Client) ClusterSoftPurge(ctx context.Context, module string) ([]cluster.NodeAnswer, error) {
	return c.everywhere(ctx, "/v1/cluster/soft-purge", module)
}

// ClusterStatus reads the fleet's state: desired versions, the rollout in
// flight, each live node's heartbeat.
func (c *Client) ClusterStatus(ctx context.Context) (*cluster.Status, error) {
	var res cluster.Status
	if err := c.do(ctx, http.MethodGet, "/v1/cluster/status", nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

func (c *Client) rollout(ctx context.Context, path string, body any) (*cluster.Report, error) {
	var res RolloutResponse
	if err := c.do(ctx, http.MethodPost, path, body, &res); err != nil {
		return nil, err
	}
	return res.Report, replyError(res.Code, res.Error)
}

func (c *Client) everywhere(ctx context.Context, path, module string) ([]cluster.NodeAnswer, error) {
	var res ClusterAnswersResponse
	if err := c.do(ctx, http.MethodPost, path, ModuleRequest{module}, &res); err != nil {
		return nil, err
	}
	return res.Answers, replyError(res.Code, res.Error)
}

// replyError is the error a 200 answer carries beside its result, or nil.
func replyError(code, msg string) error {
	if code == "" && msg == "" {
		return nil
	}
	if code == "" {
		code = CodeInternal
	}
	return &Error{Status: http.StatusOK, Code: code, Message: msg}
}
