// Package control is the control API of a wasmhot node: the protocol (JSON
// over HTTP), the server that maps it onto a *host.Host, and the client the
// wasmhot command uses.
//
// The server listens on a Unix socket (mode 0600, no authentication beyond
// the file's permissions; see [ListenUnix]) and, optionally, on a loopback
// TCP address where every request must carry "Authorization: Bearer TOKEN"
// (see [ListenTCP] and [Server.Handler]).
//
// Endpoints (all under /v1; requests and replies are JSON unless noted):
//
//	POST /v1/load        LoadRequest        -> LoadResponse
//	POST /v1/soft-purge  ModuleRequest      -> BoolResponse
//	POST /v1/purge       ModuleRequest      -> PurgeResponse
//	POST /v1/delete      ModuleRequest      -> BoolResponse
//	POST /v1/rollback    ModuleRequest      -> RollbackResponse
//	GET  /v1/modules                        -> ModulesResponse
//	POST /v1/spawn       SpawnRequest       -> SpawnResponse
//	POST /v1/send        SendRequest        -> OKResponse
//	POST /v1/send?pid=PID  the message as an application/octet-stream body -> OKResponse
//	POST /v1/kill        KillRequest        -> KillResponse
//	POST /v1/suspend     PIDRequest         -> PIDResponse
//	POST /v1/resume      PIDRequest         -> PIDResponse
//	POST /v1/change-code ChangeCodeRequest  -> ChangeCodeResponse
//	GET  /v1/procs[?all=true][&pid=PID...]  -> ProcsResponse
//	POST /v1/check       CheckRequest       -> BoolResponse
//	POST /v1/call        CallRequest        -> CallResponse
//	POST /v1/call-bytes  CallBytesRequest   -> CallBytesResponse
//	GET  /v1/logs[?follow=true]             -> text/plain, one guest log line per line
//	GET  /metrics                           -> Prometheus text format (package metrics)
//	GET  /healthz                           -> HealthResponse (200), or 503 once the node is closing
//
// and the fleet's (a node in one, Options.Cluster; else 404 no_cluster):
//
//	POST /v1/cluster/load       ClusterLoadRequest     -> RolloutResponse
//	POST /v1/cluster/rollback   ClusterRollbackRequest -> RolloutResponse
//	POST /v1/cluster/delete     ModuleRequest          -> RolloutResponse
//	POST /v1/cluster/purge      ModuleRequest          -> ClusterAnswersResponse
//	POST /v1/cluster/soft-purge ModuleRequest          -> ClusterAnswersResponse
//	GET  /v1/cluster/status                            -> cluster.Status
//
// A rollout that ran answers 200 with its report, and its failure, if
// any, beside it (code "aborted" or "partial"): each node's answers are
// always there. One refused before it ran is an error reply
// ("rollout_in_flight", "no_nodes", "no_previous", "bad_name").
//
// [Server.MetricsHandler] serves /metrics and /healthz alone, without the
// token, for a listener that a monitoring system scrapes. A Go program
// can mount [Server.Handler] on its own http.ServeMux (see the example)
// and reach it with [Dial].
//
// Wherever a request names a process (send, kill, suspend, resume,
// change-code, check, procs) the pid
// may be a unique prefix of at least MinPIDPrefix hex digits; the node
// resolves it, or answers noproc (no process has it) or ambiguous
// (several do). Answers about one module (soft-purge, purge, delete,
// check) say "unknown_module": true when the node has no module of that
// name, beside Erlang's boolean.
//
// A failure is an HTTP status and an [Error] body {"error": "...", "code":
// "..."}; the codes (Code* constants) are stable and Erlang-like, e.g.
// "not_purged", "sticky_directory", "badfile", "undef". The failure of a
// call of a guest function (call, spawn, a process's external calls) also
// carries "call" and "cause", each {"module", "function", "vsn", "reason",
// "detail"}: what was called, and the call that failed first (the
// innermost of a chain of external calls), from the host's CallError; a
// client reads them instead of parsing the message. A refused request
// changes nothing. The bodies of requests that only name things (call,
// kill, purge, check...) are capped at SmallRequestBytes, the others at
// Options.MaxRequestBytes (413 too_large). A request whose body would
// take the bodies being read past Options.MaxBodyBytes fails with 503 and
// code "busy": retry it. Requests other than the cheap reads (modules,
// logs, metrics, health, cluster status) run at most 2×GOMAXPROCS at
// once, calls (call, call-bytes) at most GOMAXPROCS; the others wait their
// turn.
//
// Start with [NewServer] and [Dial]; a client of a node that may still be
// starting calls [Client.Wait] first.
package control
