package control

import (
	"context"
	"net/http"
	"time"

	"github.com/wasmhot/wasmhot/host"
)

// Host-driven code change (sys:suspend/1, sys:change_code/4,
// sys:resume/1): see host.Host.Suspend, ChangeCode and Resume.

// PIDRequest names one process (suspend, resume); the pid may be a
// unique prefix.
type PIDRequest struct {
	PID string `json:"pid"`
}

// PIDResponse gives the full pid of the process a request named.
type PIDResponse struct {
	PID string `json:"pid"`
}

// ChangeCodeRequest moves a suspended process to its module's current
// version. Extra (text) or ExtraBase64 (bytes), not both, is passed to the
// new version's code_change. TimeoutMs bounds the wait for the process
// to reach a receive, as CallRequest's bounds a call (0:
// DefaultCallTimeout).
type ChangeCodeRequest struct {
	PID         string `json:"pid"`
	Extra       string `json:"extra,omitempty"`
	ExtraBase64 []byte `json:"extra_base64,omitempty"`
	TimeoutMs   int64  `json:"timeout_ms,omitempty"`
}

// ChangeCodeResponse is the version the process runs after the change.
type ChangeCodeResponse struct {
	PID    string `json:"pid"`
	Vsn    uint64 `json:"vsn"`
	VsnTag string `json:"vsn_tag"`
}

// The error codes of code change.
const (
	CodeNotSuspended = "not_suspended"  // change-code of a process not suspended
	CodeRefused      = "refused"        // code_change refused or failed: nothing changed
	CodeNoCodeChange = "no_code_change" // its version exports no code_change of ABI v2
)

func init() {
	errorCodes = append([]errorCode{
		{host.ErrNotSuspended, CodeNotSuspended, http.StatusConflict},
		{host.ErrRefused, CodeRefused, http.StatusConflict},
		{host.ErrNoCodeChange, CodeNoCodeChange, http.StatusUnprocessableEntity},
	}, errorCodes...)
}

func (s *Server) suspend(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.onPID(w, r, s.opts.Host.Suspend)
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.onPID(w, r, s.opts.Host.Resume)
}

func (s *Server) onPID(w http.ResponseWriter, r *http.Request, op func(host.PID) error) (any, error) {
	var req PIDRequest
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	pid, err := s.resolvePID(req.PID)
	if err != nil {
		return nil, err
	}
	if err := op(pid); err != nil {
		return nil, err
	}
	return PIDResponse{PID: pid.String()}, nil
}

func (s *Server) changeCode(w http.ResponseWriter, r *http.Request) (any, error) {
	var req ChangeCodeRequest
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	extra, err := bytesArg("extra", req.Extra, req.ExtraBase64)
	if err != nil {
		return nil, err
	}
	pid, err := s.resolvePID(req.PID)
	if err != nil {
		return nil, err
	}
	ctx, cancel, err := callContext(w, r, req.TimeoutMs)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if err := s.opts.Host.ChangeCode(ctx, pid, extra); err != nil {
		return nil, err
	}
	p, err := s.opts.Host.Process(pid)
	if err != nil {
		return nil, err
	}
	return ChangeCodeResponse{PID: pid.String(), Vsn: p.Vsn, VsnTag: p.VsnTag}, nil
}

// Suspend suspends a process (sys:suspend/1): at its next receive it
// stops, its messages kept, until Resume. It returns the full pid.
func (c *Client) Suspend(ctx context.Context, pid string) (string, error) {
	var res PIDResponse
	return res.PID, c.do(ctx, http.MethodPost, "/v1/suspend", PIDRequest{PID: pid}, &res)
}

// Resume lets a suspended process receive again (sys:resume/1). It
// returns the full pid.
func (c *Client) Resume(ctx context.Context, pid string) (string, error) {
	var res PIDResponse
	return res.PID, c.do(ctx, http.MethodPost, "/v1/resume", PIDRequest{PID: pid}, &res)
}

// ChangeCode moves a suspended process to its module's current version,
// calling the new version's code_change with extra (sys:change_code/4).
// A refusal fails with code refused and leaves the process as it was.
func (c *Client) ChangeCode(ctx context.Context, pid string, extra []byte) (ChangeCodeResponse, error) {
	return c.ChangeCodeWithin(ctx, pid, extra, 0)
}

// ChangeCodeWithin is ChangeCode waiting at most timeout (0:
// DefaultCallTimeout) for the process to reach a receive.
func (c *Client) ChangeCodeWithin(ctx context.Context, pid string, extra []byte, timeout time.Duration) (ChangeCodeResponse, error) {
	var res ChangeCodeResponse
	req := ChangeCodeRequest{PID: pid, ExtraBase64: extra, TimeoutMs: timeout.Milliseconds()}
	return res, c.do(ctx, http.MethodPost, "/v1/change-code", req, &res)
}
