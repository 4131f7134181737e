package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Client talks to a node's control API. It is safe for concurrent use.
type Client struct {
	http  *http.Client
	base  string
	token string
	node  string
}

// ParseNode tells how to reach a node: "unix:PATH" and anything with a
// slash or ending in ".sock" is a Unix socket path; "tcp:HOST:PORT" and
// anything else that parses as HOST:PORT is a TCP address; the rest is
// taken as a socket path.
func ParseNode(node string) (network, addr string) {
	switch {
	case strings.HasPrefix(node, "unix:"):
		return "unix", strings.TrimPrefix(node, "unix:")
	case strings.HasPrefix(node, "tcp:"):
		return "tcp", strings.TrimPrefix(node, "tcp:")
	case strings.ContainsRune(node, '/') || strings.HasSuffix(node, ".sock"):
		return "unix", node
	}
	if _, _, err := net.SplitHostPort(node); err == nil {
		return "tcp", node
	}
	return "unix", node
}

// Dial returns a client of the node (see ParseNode). token is sent as a
// bearer token, which TCP nodes require. Nothing is dialled until a call.
func Dial(node, token string) (*Client, error) {
	if node == "" {
		return nil, fmt.Errorf("no node given")
	}
	network, addr := ParseNode(node)
	tr := &http.Transport{DisableCompression: true}
	base := "http://" + addr
	if network == "unix" {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", addr)
		}
		base = "http://wasmhot"
	}
	return &Client{http: &http.Client{Transport: tr}, base: base, token: token, node: node}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

func (c *Client) request(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd, contentType = bytes.NewReader(b), "application/octet-stream"
	default:
		j, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// "node n.sock: dial unix n.sock: connect: ...", without the
		// method and URL of the request, which only repeat the node.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("node %s: %w", c.node, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		e := &Error{Status: resp.StatusCode}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, e) != nil || e.Code == "" {
			e.Code, e.Message = CodeInternal, fmt.Sprintf("node %s: HTTP %s: %s", c.node, resp.Status, bytes.TrimSpace(b))
		}
		return nil, e
	}
	return resp, nil
}

// Do sends a request to an endpoint of the API (see the package doc), with
// body encoded as JSON (nil: no body), and decodes the JSON answer into
// out. The other methods are built on it; use it to read every field of
// an answer, such as BoolResponse.UnknownModule. A failure the node
// answers is an *Error.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	return c.do(ctx, method, path, body, out)
}

// do sends body (nil: none) and decodes the JSON reply into out.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("node %s: bad reply to %s: %w", c.node, path, err)
	}
	// The decoder stops at the end of the value, before the answer's
	// final newline: read to the end, so that the connection goes back to
	// the pool instead of being closed (a closed one costs the next
	// request a new connection, and the node an accept and a goroutine).
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return nil
}

// Load loads modules atomically; see LoadRequest.
func (c *Client) Load(ctx context.Context, req LoadRequest) (LoadResponse, error) {
	var res LoadResponse
	return res, c.do(ctx, http.MethodPost, "/v1/load", req, &res)
}

// SoftPurge is code:soft_purge/1.
func (c *Client) SoftPurge(ctx context.Context, module string) (bool, error) {
	var res BoolResponse
	return res.Result, c.do(ctx, http.MethodPost, "/v1/soft-purge", ModuleRequest{module}, &res)
}

// Purge is code:purge/1.
func (c *Client) Purge(ctx context.Context, module string) (PurgeResponse, error) {
	var res PurgeResponse
	return res, c.do(ctx, http.MethodPost, "/v1/purge", ModuleRequest{module}, &res)
}

// Delete is code:delete/1.
func (c *Client) Delete(ctx context.Context, module string) (bool, error) {
	var res BoolResponse
	return res.Result, c.do(ctx, http.MethodPost, "/v1/delete", ModuleRequest{module}, &res)
}

// Modules lists the loaded modules.
func (c *Client) Modules(ctx context.Context) ([]Module, error) {
	var res ModulesResponse
	return res.Modules, c.do(ctx, http.MethodGet, "/v1/modules", nil, &res)
}

// Spawn starts module:function with state and returns the pid.
func (c *Client) Spawn(ctx context.Context, req SpawnRequest) (string, error) {
	var res SpawnResponse
	return res.PID, c.do(ctx, http.MethodPost, "/v1/spawn", req, &res)
}

// Send puts a message in a process's mailbox. A message in MessageBase64
// goes as the raw body (application/octet-stream, the pid in the query):
// the node then decodes no JSON, which for a 1 MiB message takes 9 ms.
func (c *Client) Send(ctx context.Context, req SendRequest) error {
	var res OKResponse
	if req.MessageBase64 != nil && req.Message == "" {
		return c.do(ctx, http.MethodPost, "/v1/send?pid="+url.QueryEscape(req.PID), rawBody(req.MessageBase64), &res)
	}
	return c.do(ctx, http.MethodPost, "/v1/send", req, &res)
}

// rawBody is a request body sent as it is, application/octet-stream.
type rawBody []byte

// Procs lists the live processes, and with all the recently exited ones.
func (c *Client) Procs(ctx context.Context, all bool) ([]Process, error) {
	var res ProcsResponse
	path := "/v1/procs"
	if all {
		path += "?all=true"
	}
	return res.Processes, c.do(ctx, http.MethodGet, path, nil, &res)
}

// Check is erlang:check_process_code/2.
func (c *Client) Check(ctx context.Context, pid, module string) (bool, error) {
	var res BoolResponse
	return res.Result, c.do(ctx, http.MethodPost, "/v1/check", CheckRequest{PID: pid, Module: module}, &res)
}

// Call calls module:function with numbers; see CallRequest.
func (c *Client) Call(ctx context.Context, req CallRequest) ([]Value, error) {
	var res CallResponse
	return res.Results, c.do(ctx, http.MethodPost, "/v1/call", req, &res)
}

// CallBytes calls module:function by the bytes convention and returns its
// output; see CallBytesRequest.
func (c *Client) CallBytes(ctx context.Context, req CallBytesRequest) ([]byte, error) {
	var res CallBytesResponse
	return res.Output, c.do(ctx, http.MethodPost, "/v1/call-bytes", req, &res)
}

// Kill ends a live process with reason killed and returns its full pid;
// pid may be a unique prefix (see MinPIDPrefix).
func (c *Client) Kill(ctx context.Context, pid string) (string, error) {
	var res KillResponse
	return res.PID, c.do(ctx, http.MethodPost, "/v1/kill", KillRequest{PID: pid}, &res)
}

// ProcsByPID describes the given processes, live or exited, in the order
// given; each pid may be a unique prefix (see MinPIDPrefix). One the node
// does not know fails the whole request with noproc (or ambiguous).
func (c *Client) ProcsByPID(ctx context.Context, pids ...string) ([]Process, error) {
	if len(pids) == 0 {
		return []Process{}, nil
	}
	q := url.Values{"pid": pids}
	var res ProcsResponse
	return res.Processes, c.do(ctx, http.MethodGet, "/v1/procs?"+q.Encode(), nil, &res)
}

// ErrNodeGone is the error of a log stream (Logs with follow) that the
// node ended: it stopped, or its connection broke.
var ErrNodeGone = errors.New("the node went away")

// Logs calls line for each kept guest log line and, with follow, for every
// new one until ctx ends (then it returns nil). A stream that ends before
// ctx does (the node stopped or was killed) returns an error wrapping
// ErrNodeGone.
func (c *Client) Logs(ctx context.Context, follow bool, line func(string)) error {
	q := url.Values{}
	if follow {
		q.Set("follow", "true")
	}
	resp, err := c.request(ctx, http.MethodGet, "/v1/logs?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 32<<20)
	for sc.Scan() {
		line(sc.Text())
	}
	err = sc.Err()
	switch {
	case ctx.Err() != nil:
		return nil
	case follow && err != nil:
		return fmt.Errorf("node %s: logs: %w (%v)", c.node, ErrNodeGone, err)
	case follow:
		return fmt.Errorf("node %s: logs: %w", c.node, ErrNodeGone)
	case err != nil:
		return fmt.Errorf("node %s: logs: %w", c.node, err)
	}
	return nil
}

// Wait waits up to timeout for the node to accept connections: it dials
// the node's socket (or TCP address) again while the socket does not exist
// yet or the connection is refused, as happens while a node is starting.
// It returns nil as soon as a connection is accepted (and closes it), else
// the last dial error, in the form every method returns it. A timeout of 0
// dials once.
func (c *Client) Wait(ctx context.Context, timeout time.Duration) error {
	network, addr := ParseNode(c.node)
	deadline := time.Now().Add(timeout)
	for {
		var d net.Dialer
		dctx, cancel := context.WithDeadline(ctx, time.Now().Add(max(time.Until(deadline), time.Second)))
		conn, err := d.DialContext(dctx, network, addr)
		cancel()
		if err == nil {
			return conn.Close()
		}
		if !retryDial(err) || !time.Now().Before(deadline) || ctx.Err() != nil {
			return fmt.Errorf("node %s: %w", c.node, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s: %w", c.node, err)
		case <-time.After(min(waitPoll, time.Until(deadline))):
		}
	}
}

// waitPoll is how often Wait dials a node that is not there yet.
const waitPoll = 25 * time.Millisecond

// retryDial reports whether a dial error may go away once a starting node
// listens: no socket file yet, or nothing accepting.
func retryDial(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)
}
