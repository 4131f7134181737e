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
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
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

// Send puts a message in a process's mailbox.
func (c *Client) Send(ctx context.Context, req SendRequest) error {
	var res OKResponse
	return c.do(ctx, http.MethodPost, "/v1/send", req, &res)
}

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

// Logs calls line for each kept guest log line and, with follow, for every
// new one until ctx ends or the node stops (then it returns nil).
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
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("node %s: logs: %w", c.node, err)
	}
	return nil
}
