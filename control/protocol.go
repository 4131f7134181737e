package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/wasmhot/wasmhot/cluster"
	"github.com/wasmhot/wasmhot/host"
)

// MaxRequestBytes is the default cap on a request body. A module's bytes
// travel base64-encoded (4/3 of their size), so the default host limit of
// 32 MiB per module fits.
const MaxRequestBytes = 64 << 20

// SmallRequestBytes caps the bodies of the requests that only name things
// (call, kill, purge, check...): 64 KiB, far more than any name the node
// accepts (a function name is at most 1 KiB), so that a request carrying a
// megabyte of name is refused before it is read, not after it is decoded.
const SmallRequestBytes = 64 << 10

// ModuleSource is one module to load: its name and its Wasm bytes (base64
// in JSON).
type ModuleSource struct {
	Name string `json:"name"`
	Wasm []byte `json:"wasm"`
}

// LoadRequest loads modules atomically: all of them or none. Without Purge
// a module that still has old code refuses with not_purged; with Purge the
// old code of each is purged first (killing processes lingering in it), as
// Erlang's c:l/1. Sticky marks every module sticky once loaded.
type LoadRequest struct {
	Modules []ModuleSource `json:"modules"`
	Purge   bool           `json:"purge,omitempty"`
	Sticky  bool           `json:"sticky,omitempty"`
}

// LoadResponse describes the loaded modules and, with Purge, how many
// processes the purges killed.
type LoadResponse struct {
	Modules []Module `json:"modules"`
	Killed  int      `json:"killed"`
}

// ModuleRequest names one module (soft-purge, purge, delete).
type ModuleRequest struct {
	Module string `json:"module"`
}

// BoolResponse is the boolean answer of soft-purge, delete and check.
// UnknownModule is true when the node had no module of that name (neither
// current nor old code) when it answered: Result is then Erlang's answer
// for a module that does not exist (soft-purge true, delete and check
// false), and the name may be mistyped.
type BoolResponse struct {
	Result        bool `json:"result"`
	UnknownModule bool `json:"unknown_module,omitempty"`
}

// PurgeResponse is the answer of purge: Result is code:purge/1's boolean
// (true when a process was killed), the counts say what happened.
// UnknownModule is as in BoolResponse.
type PurgeResponse struct {
	Result        bool `json:"result"`
	Killed        int  `json:"killed"`
	Interrupted   int  `json:"interrupted"`
	Waited        int  `json:"waited"`
	UnknownModule bool `json:"unknown_module,omitempty"`
}

// ModulesResponse lists every module with current or old code, by name.
type ModulesResponse struct {
	Modules []Module `json:"modules"`
}

// Module describes one module name.
type Module struct {
	Name    string   `json:"name"`
	Current *Version `json:"current"` // null when deleted
	Old     *Version `json:"old"`     // null when there is no old code
	Sticky  bool     `json:"sticky"`
}

// Version describes one loaded version.
type Version struct {
	Vsn       uint64    `json:"vsn"`
	VsnTag    string    `json:"vsn_tag"` // wasmhot.vsn section, or "sha256:..."
	UUID      string    `json:"uuid"`
	SHA256    string    `json:"sha256"`
	Size      int       `json:"size"`
	LoadedAt  time.Time `json:"loaded_at"`
	Exports   []Export  `json:"exports"`
	Lingering int       `json:"lingering"` // processes lingering in it
	InFlight  int64     `json:"in_flight"` // calls running in it
}

// Export is one exported function and its Wasm signature.
type Export struct {
	Name      string `json:"name"`
	Signature string `json:"signature"` // e.g. "(i32,i32)->(i32)"
}

// SpawnRequest starts module:function in a new process. The initial state
// is State (text) or StateBase64 (bytes), not both.
type SpawnRequest struct {
	Module      string `json:"module"`
	Function    string `json:"function"`
	State       string `json:"state,omitempty"`
	StateBase64 []byte `json:"state_base64,omitempty"`
}

// SpawnResponse gives the new process's pid.
type SpawnResponse struct {
	PID string `json:"pid"`
}

// A PID in a request (send, kill, check, procs) is a process's uuid, or a
// unique prefix of it of at least MinPIDPrefix hex digits ("8b65b503"),
// dashes optional, in any case. The node resolves a prefix among the
// processes it knows (live and recently exited): none fails with noproc,
// several with ambiguous.
const MinPIDPrefix = 4

// SendRequest puts a message in a process's mailbox: Message (text) or
// MessageBase64 (bytes), not both.
type SendRequest struct {
	PID           string `json:"pid"`
	Message       string `json:"message,omitempty"`
	MessageBase64 []byte `json:"message_base64,omitempty"`
}

// KillRequest ends a live process with reason killed, as
// exit(Pid, kill). A process that has exited already is noproc.
type KillRequest struct {
	PID string `json:"pid"`
}

// KillResponse gives the pid of the process killed (in full, when the
// request gave a prefix).
type KillResponse struct {
	PID string `json:"pid"`
}

// OKResponse is the answer of requests that return nothing.
type OKResponse struct {
	OK bool `json:"ok"`
}

// ProcsResponse lists processes in spawn order. GET /v1/procs takes
// "all=true" (recently exited processes too) and any number of "pid"
// parameters (uuids or unique prefixes): then only those processes, live
// or exited, in the order asked.
type ProcsResponse struct {
	Processes []Process `json:"processes"`
}

// Process describes one process.
type Process struct {
	PID        string `json:"pid"`
	Handle     int64  `json:"handle"`
	Module     string `json:"module"`
	Vsn        uint64 `json:"vsn"` // 0 once exited
	Status     string `json:"status"`
	MailboxLen int    `json:"mailbox_len"`
	Fuel       int64  `json:"fuel"`          // Wasm instructions executed (sandboxed)
	VsnTag     string `json:"vsn_tag"`       // of the code it runs; "" once exited
	Suspended  bool   `json:"sys_suspended"` // by suspend, until resume
	Exit       *Exit  `json:"exit"`          // null while alive
}

// Exit is how a process ended.
type Exit struct {
	Reason string `json:"reason"`
	Error  string `json:"error,omitempty"`
}

// CheckRequest asks whether a process lingers in a module's old code.
type CheckRequest struct {
	PID    string `json:"pid"`
	Module string `json:"module"`
}

// CallRequest calls module:function from Go with numbers. Each argument is
// a decimal (or 0x hex) integer, or a float for f32/f64 parameters; it is
// converted to the type of the function's parameter in the current version.
type CallRequest struct {
	Module   string   `json:"module"`
	Function string   `json:"function"`
	Args     []string `json:"args"`
	// TimeoutMs bounds the call, in milliseconds: 0 means
	// DefaultCallTimeout, and at most MaxCallTimeout. A call over it fails
	// with timeout (a sandboxed guest is stopped wherever it runs).
	TimeoutMs int64 `json:"timeout_ms,omitempty"`
}

// The bounds of a call through the API (CallRequest.TimeoutMs).
const (
	DefaultCallTimeout = 30 * time.Second
	MaxCallTimeout     = time.Hour
)

// CallBytesRequest calls module:function by the bytes convention (see
// host.CallBytes): the input is Input (text) or InputBase64 (bytes), not
// both; TimeoutMs bounds the call as in CallRequest.
type CallBytesRequest struct {
	Module      string `json:"module"`
	Function    string `json:"function"`
	Input       string `json:"input,omitempty"`
	InputBase64 []byte `json:"input_base64,omitempty"`
	TimeoutMs   int64  `json:"timeout_ms,omitempty"`
}

// CallBytesResponse gives the bytes the function returned (base64 in
// JSON).
type CallBytesResponse struct {
	Output []byte `json:"output"`
}

// CallResponse gives the results with their Wasm types.
type CallResponse struct {
	Results []Value `json:"results"`
}

// Value is one Wasm value: its type ("i32", "i64", "f32", "f64") and its
// value in decimal (signed for integers).
type Value struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Error codes: the "code" of an error reply. They are stable; the message
// beside them is for people.
const (
	CodeBadRequest   = "bad_request"        // malformed JSON, unknown fields, bad arguments
	CodeUnauthorized = "unauthorized"       // missing or wrong bearer token
	CodeNotFound     = "not_found"          // no such endpoint
	CodeMethod       = "method_not_allowed" // wrong HTTP method
	CodeTooLarge     = "too_large"          // request body or module over the limit
	CodeBadName      = "bad_name"           // not a valid module name
	CodeBadFile      = "badfile"            // bytes that are not a loadable module
	CodeNotPurged    = "not_purged"         // the module still has old code
	CodeSticky       = "sticky_directory"   // the module is sticky
	CodeNotLoaded    = "not_loaded"         // the module has no code
	CodeUndef        = "undef"              // no such module:function in current code
	CodeBadArity     = "badarity"           // wrong number or types of arguments
	CodeNoProc       = "noproc"             // no such process
	CodeAmbiguous    = "ambiguous"          // a pid prefix several processes share
	CodeMailboxFull  = "mailbox_full"       // the process's mailbox is at its limit
	CodeLimit        = "system_limit"       // a configured limit of the node
	CodePurged       = "purged"             // the code was purged under the call
	CodeTrap         = "trap"               // the guest trapped
	CodeBadResult    = "bad_result"         // the guest broke the bytes convention
	CodeClosed       = "closed"             // the node is shutting down
	CodeTimeout      = "timeout"            // the request's deadline passed
	CodeBusy         = "busy"               // request bodies in flight at their bound: retry
	CodeNoOld        = "no_old"             // a rollback of a module without old code
	CodeInternal     = "internal"           // anything else
	// The fleet's codes (cluster.go).
	CodeNoCluster       = "no_cluster"        // the node is not in a fleet
	CodeRolloutInFlight = "rollout_in_flight" // another rollout holds the fleet's lock
	CodeNoNodes         = "no_nodes"          // no live, ready node in the fleet
	CodeNoPrevious      = "no_previous"       // a fleet rollback with no earlier version
	CodeAborted         = "aborted"           // a node refused the rollout; nothing changed
	CodePartial         = "partial"           // decided, but some node did not do it
)

// Error is an error reply of the control API. Clients get it from every
// method; match Code.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"error"`
	// Call names the call of a guest function that failed, and Cause the
	// call that failed first: the innermost of a chain of external calls
	// (the same call when it failed itself). Both are absent for other
	// failures.
	Call  *CallInfo `json:"call,omitempty"`
	Cause *CallInfo `json:"cause,omitempty"`
}

// CallInfo describes a call of a guest function that failed: what was
// called, the version that ran (0: none was reached), the reason as a
// process's exit says it, and, for a cause, what went wrong in words
// (empty when the reason says it all).
type CallInfo struct {
	Module   string `json:"module"`
	Function string `json:"function"`
	Vsn      uint64 `json:"vsn,omitempty"`
	Reason   string `json:"reason"`
	Detail   string `json:"detail,omitempty"`
}

// callInfo describes ce; with detail, also its cause in words, without
// the sentinel's own text, which the reason says already.
func callInfo(ce *host.CallError, detail bool) *CallInfo {
	ci := &CallInfo{Module: ce.Module, Function: ce.Function, Vsn: ce.Vsn, Reason: string(ce.Reason)}
	if detail {
		d := ce.Err.Error()
		for _, s := range []error{host.ErrUndef, host.ErrBadArity, host.ErrTrap, host.ErrLimit, host.ErrPurged} {
			if d == s.Error() {
				d = ""
			}
			d = strings.TrimPrefix(d, s.Error()+": ")
		}
		ci.Detail = d
	}
	return ci
}

// Error formats the error as Erlang shows one: "{error,not_purged} message".
func (e *Error) Error() string { return fmt.Sprintf("{error,%s} %s", e.Code, e.Message) }

// badRequest is a 400 with code bad_request.
func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

// errorCodes maps host errors to codes and statuses, in order of precedence:
// a batch error matches every module's error, and the first match wins.
var errorCodes = []errorCode{
	{host.ErrBadName, CodeBadName, http.StatusBadRequest},
	{host.ErrDuplicate, CodeBadRequest, http.StatusBadRequest},
	{host.ErrTooLarge, CodeTooLarge, http.StatusRequestEntityTooLarge},
	{host.ErrBadModule, CodeBadFile, http.StatusUnprocessableEntity},
	{host.ErrSticky, CodeSticky, http.StatusConflict},
	{host.ErrNoOld, CodeNoOld, http.StatusConflict},
	{host.ErrNotPurged, CodeNotPurged, http.StatusConflict},
	{host.ErrTooMany, CodeLimit, http.StatusServiceUnavailable},
	{host.ErrNotLoaded, CodeNotLoaded, http.StatusNotFound},
	{host.ErrUndef, CodeUndef, http.StatusNotFound},
	{host.ErrBadArity, CodeBadArity, http.StatusUnprocessableEntity},
	{host.ErrNoProcess, CodeNoProc, http.StatusNotFound},
	{host.ErrMailboxFull, CodeMailboxFull, http.StatusServiceUnavailable},
	{host.ErrLimit, CodeLimit, http.StatusServiceUnavailable},
	{host.ErrPurged, CodePurged, http.StatusConflict},
	{host.ErrTrap, CodeTrap, http.StatusUnprocessableEntity},
	{host.ErrBadResult, CodeBadResult, http.StatusUnprocessableEntity},
	{host.ErrClosed, CodeClosed, http.StatusServiceUnavailable},
	{cluster.ErrBusy, CodeRolloutInFlight, http.StatusConflict},
	{cluster.ErrNoNodes, CodeNoNodes, http.StatusServiceUnavailable},
	{cluster.ErrNoPrevious, CodeNoPrevious, http.StatusNotFound},
	{cluster.ErrAborted, CodeAborted, http.StatusConflict},
	{cluster.ErrPartial, CodePartial, http.StatusBadGateway},
	{cluster.ErrClosed, CodeClosed, http.StatusServiceUnavailable},
	{context.DeadlineExceeded, CodeTimeout, http.StatusGatewayTimeout},
	{context.Canceled, CodeClosed, http.StatusServiceUnavailable},
}

type errorCode struct {
	err    error
	code   string
	status int
}

// toError turns any error into an error reply.
func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			e := &Error{Status: c.status, Code: c.code, Message: err.Error()}
			var ce *host.CallError
			if errors.As(err, &ce) {
				e.Call, e.Cause = callInfo(ce, false), callInfo(host.Innermost(err), true)
			}
			return e
		}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: err.Error()}
}
