package control

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	guestexamples "github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/host"
)

const waitTimeout = 20 * time.Second

// testServer is a control server on a real Unix socket in a temp dir.
type testServer struct {
	h    *host.Host
	hub  *Hub
	sock string
	cl   *Client
	http *http.Client
}

func newTestServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	hub := NewHub(nil, 0)
	h, err := host.New(ctx, host.NewConfig().WithLog(hub))
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Logs = h, hub
	sock := filepath.Join(t.TempDir(), "n.sock")
	ln, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- NewServer(opts).Serve(ctx, ln, "") }()
	cl, err := Dial(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		cl.Close()
		_ = h.Close(context.Background())
	})
	return &testServer{h: h, hub: hub, sock: sock, cl: cl, http: unixHTTP(sock)}
}

func unixHTTP(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

// raw sends a request as is and returns the status and the decoded error.
func (s *testServer) raw(t *testing.T, method, path string, body io.Reader) (int, Error) {
	t.Helper()
	req, err := http.NewRequest(method, "http://wasmhot"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e Error
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(b, &e); err != nil {
			t.Errorf("%s %s: error body %q is not JSON: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, e
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func wasm(name string) []byte { return guestexamples.Wasm(name) }

func loadJSON(name string, b []byte) string {
	return `{"modules":[{"name":"` + name + `","wasm":"` + base64.StdEncoding.EncodeToString(b) + `"}]}`
}

// Refused requests get a clear JSON error and change nothing.
func TestRefusedRequests(t *testing.T) {
	s := newTestServer(t, Options{MaxRequestBytes: 4096})
	ctx := ctxT(t)
	if _, err := s.cl.Load(ctx, LoadRequest{Modules: []ModuleSource{{"a", wasm("a_loop_v1")}}}); err != nil {
		t.Fatal(err)
	}
	before := s.h.Modules()
	big := strings.Repeat("x", 8192)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"malformed JSON", "POST", "/v1/load", `{"modules": [`, 400, CodeBadRequest},
		{"not an object", "POST", "/v1/load", `[1]`, 400, CodeBadRequest},
		{"empty body", "POST", "/v1/load", ``, 400, CodeBadRequest},
		{"unknown field", "POST", "/v1/load", `{"modules":[],"force":true}`, 400, CodeBadRequest},
		{"trailing data", "POST", "/v1/purge", `{"module":"a"} {"module":"a"}`, 400, CodeBadRequest},
		{"path as name", "POST", "/v1/load", loadJSON("../x", wasm("a_loop_v2")), 400, CodeBadName},
		{"upper case name", "POST", "/v1/delete", `{"module":"A"}`, 400, CodeBadName},
		{"empty name", "POST", "/v1/purge", `{"module":""}`, 400, CodeBadName},
		{"no modules", "POST", "/v1/load", `{"modules":[]}`, 400, CodeBadRequest},
		{"bad base64", "POST", "/v1/load", `{"modules":[{"name":"a","wasm":"!!"}]}`, 400, CodeBadRequest},
		{"twice in a batch", "POST", "/v1/load", `{"modules":[{"name":"b","wasm":"AA=="},{"name":"b","wasm":"AA=="}]}`, 400, CodeBadRequest},
		{"oversized", "POST", "/v1/load", `{"modules":[{"name":"a","wasm":"` + big + `"}]}`, 413, CodeTooLarge},
		{"wrong method", "GET", "/v1/load", ``, 405, CodeMethod},
		{"no endpoint", "GET", "/v1/nope", ``, 404, CodeNotFound},
		{"bad query", "GET", "/v1/procs?all=maybe", ``, 400, CodeBadRequest},
		{"garbage module", "POST", "/v1/load", loadJSON("a", []byte("\x00asm\x01\x00\x00\x00junk")), 422, CodeBadFile},
		{"not purged", "POST", "/v1/load", loadJSON("a", wasm("a_loop_v2")), 200, ""},
		{"load over old code", "POST", "/v1/load", loadJSON("a", wasm("a_loop_v3")), 409, CodeNotPurged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, e := s.raw(t, tc.method, tc.path, strings.NewReader(tc.body))
			if status != tc.status || e.Code != tc.code {
				t.Fatalf("status %d code %q (%s), want %d %q", status, e.Code, e.Message, tc.status, tc.code)
			}
			if status != 200 && e.Message == "" {
				t.Errorf("no error message")
			}
			if tc.name == "not purged" {
				before = s.h.Modules() // the one request that changes something
			}
			after := s.h.Modules()
			if len(after) != len(before) || after[0].Current.SHA256 != before[0].Current.SHA256 ||
				(after[0].Old == nil) != (before[0].Old == nil) {
				t.Errorf("a refused request changed the modules: %+v", after)
			}
		})
	}
	// A body of unknown length is cut at the limit too.
	status, e := s.raw(t, "POST", "/v1/load", io.MultiReader(strings.NewReader(`{"modules":[{"name":"a","wasm":"`), strings.NewReader(big), strings.NewReader(`"}]}`)))
	if status != 413 || e.Code != CodeTooLarge {
		t.Errorf("chunked oversized body: %d %q", status, e.Code)
	}
}

func TestTCPToken(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := host.New(ctx, host.NewConfig().WithLog(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	ln, err := ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef-token"
	done := make(chan error, 1)
	go func() { done <- NewServer(Options{Host: h}).Serve(ctx, ln, token) }()
	defer func() { cancel(); <-done }()
	addr := ln.Addr().String()
	req := LoadRequest{Modules: []ModuleSource{{"a", wasm("a_loop_v1")}}}
	for _, tok := range []string{"", "0123456789abcdef-tokem", token + "x", "Bearer " + token} {
		cl, _ := Dial(addr, tok)
		_, err := cl.Load(ctxT(t), req)
		var e *Error
		if !errors.As(err, &e) || e.Status != 401 || e.Code != CodeUnauthorized {
			t.Errorf("token %q: %v, want 401 unauthorized", tok, err)
		}
		cl.Close()
	}
	if len(h.Modules()) != 0 {
		t.Fatalf("an unauthorized request loaded code")
	}
	cl, _ := Dial("tcp:"+addr, token)
	defer cl.Close()
	if _, err := cl.Load(ctxT(t), req); err != nil {
		t.Fatal(err)
	}
	if mods, err := cl.Modules(ctxT(t)); err != nil || len(mods) != 1 {
		t.Fatalf("modules: %v %v", mods, err)
	}
}

// The client against the server: the calls that the CLI tests do not
// reach, and the error codes of host errors.
func TestClient(t *testing.T) {
	s := newTestServer(t, Options{})
	ctx := ctxT(t)
	cl := s.cl
	if _, err := cl.Load(ctx, LoadRequest{Modules: []ModuleSource{{"counter", wasm("counter_v1")}, {"a", wasm("a_loop_v1")}}}); err != nil {
		t.Fatal(err)
	}
	res, err := cl.Call(ctx, CallRequest{Module: "counter", Function: "add", Args: []string{"4294967295", "2"}})
	if err != nil || len(res) != 1 || res[0] != (Value{"i32", "1"}) {
		t.Errorf("add(0xffffffff, 2) = %v, %v", res, err)
	}
	pid, err := cl.Spawn(ctx, SpawnRequest{Module: "a", Function: "run"})
	if err != nil {
		t.Fatal(err)
	}
	// Follow the logs while a message is handled.
	lines := make(chan string, 16)
	fctx, fcancel := context.WithCancel(ctx)
	fdone := make(chan error, 1)
	go func() { fdone <- cl.Logs(fctx, true, func(l string) { lines <- l }) }()
	if err := cl.Send(ctx, SendRequest{PID: pid, MessageBase64: []byte("hi\x00")}); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-lines:
		if !strings.Contains(l, "a v1 "+pid+": v1 got hi") {
			t.Errorf("followed line %q", l)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no line followed")
	}
	fcancel()
	if err := <-fdone; err != nil {
		t.Errorf("logs: %v", err)
	}
	ok, err := cl.Check(ctx, pid, "a")
	if err != nil || ok {
		t.Errorf("check = %v, %v", ok, err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"send to nobody", func() error {
			return cl.Send(ctx, SendRequest{PID: "00000000-0000-0000-0000-000000000000", Message: "x"})
		}, CodeNoProc},
		{"both message kinds", func() error {
			return cl.Send(ctx, SendRequest{PID: pid, Message: "x", MessageBase64: []byte("y")})
		}, CodeBadRequest},
		{"spawn undef", func() error { _, err := cl.Spawn(ctx, SpawnRequest{Module: "a", Function: "nope"}); return err }, CodeUndef},
		{"spawn badarity", func() error { _, err := cl.Spawn(ctx, SpawnRequest{Module: "counter", Function: "add"}); return err }, CodeBadArity},
		{"call trap", func() error { _, err := cl.Call(ctx, CallRequest{Module: "counter", Function: "trap"}); return err }, CodeTrap},
		{"check bad name", func() error { _, err := cl.Check(ctx, pid, "../a"); return err }, CodeBadName},
		{"f32 arg to i32", func() error {
			_, err := cl.Call(ctx, CallRequest{Module: "counter", Function: "add", Args: []string{"1.5", "1"}})
			return err
		}, CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e *Error
			if err := tc.call(); !errors.As(err, &e) || e.Code != tc.code {
				t.Errorf("error %v, want code %s", err, tc.code)
			}
		})
	}
	// A failed call carries what was called and what failed first.
	if _, err := cl.Load(ctx, LoadRequest{Modules: []ModuleSource{{"chain_x", wasm("chain_x")}}}); err != nil {
		t.Fatal(err)
	}
	_, err = cl.Call(ctx, CallRequest{Module: "chain_x", Function: "probe"})
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != CodeUndef || ce.Call == nil || ce.Cause == nil ||
		*ce.Call != (CallInfo{Module: "chain_x", Function: "probe", Vsn: 1, Reason: "undef"}) ||
		*ce.Cause != (CallInfo{Module: "chain_y", Function: "version", Reason: "undef"}) {
		t.Errorf("call of a function whose external call is undef: %#v", ce)
	}
	_, err = cl.Call(ctx, CallRequest{Module: "counter", Function: "add", Args: []string{"1"}})
	if !errors.As(err, &ce) || ce.Cause == nil || ce.Cause.Reason != "badarity" || ce.Cause.Detail != "1 arguments for (i32,i32)->(i32)" {
		t.Errorf("bad arity: %#v", ce)
	}
	// Atomic load: one bad module, neither loads; then sticky.
	_, err = cl.Load(ctx, LoadRequest{Purge: true, Modules: []ModuleSource{{"counter", wasm("counter_v2")}, {"bad", wasm("bad_import")}}})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeBadFile {
		t.Errorf("atomic load with a bad module: %v", err)
	}
	if mi, _ := s.h.Which("counter"); mi.Current.Vsn != 1 || mi.Old != nil {
		t.Errorf("counter changed by a failed atomic load: %+v", mi)
	}
	lr, err := cl.Load(ctx, LoadRequest{Purge: true, Sticky: true, Modules: []ModuleSource{{"counter", wasm("counter_v2")}, {"a", wasm("a_loop_v2")}}})
	if err != nil || len(lr.Modules) != 2 || !lr.Modules[0].Sticky || lr.Modules[1].Current.Vsn != 2 {
		t.Fatalf("load with purge and sticky: %+v, %v", lr, err)
	}
	_, err = cl.Load(ctx, LoadRequest{Purge: true, Modules: []ModuleSource{{"counter", wasm("counter_v3")}, {"a", wasm("a_loop_v3")}}})
	if !errors.As(err, &e) || e.Code != CodeSticky {
		t.Errorf("reload of a sticky module: %v", err)
	}
	if mi, _ := s.h.Which("a"); mi.Current.Vsn != 2 || mi.Old == nil {
		t.Errorf("a sticky refusal purged or loaded a: %+v", mi)
	}
}

func TestRecentLogs(t *testing.T) {
	s := newTestServer(t, Options{})
	_, _ = s.hub.Write([]byte("one\ntw"))
	_, _ = s.hub.Write([]byte("o\n"))
	var got bytes.Buffer
	if err := s.cl.Logs(ctxT(t), false, func(l string) { got.WriteString(l + "|") }); err != nil {
		t.Fatal(err)
	}
	if got.String() != "one|two|" {
		t.Errorf("logs = %q", got.String())
	}
}

// TestCallTimeout: a call is bounded by its timeout_ms (DefaultCallTimeout
// without one): a guest spinning for years fails with timeout and the node
// answers the next call; a bad timeout is refused.
func TestCallTimeout(t *testing.T) {
	s := newTestServer(t, Options{})
	ctx := ctxT(t)
	if _, err := s.cl.Load(ctx, LoadRequest{Modules: []ModuleSource{{"counter", wasm("counter_v1")}}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.cl.Call(ctx, CallRequest{Module: "counter", Function: "spin", Args: []string{"4611686018427387904"}, TimeoutMs: 200})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeTimeout {
		t.Fatalf("spin with a 200 ms timeout: %v, want timeout", err)
	}
	if res, err := s.cl.Call(ctx, CallRequest{Module: "counter", Function: "version"}); err != nil || len(res) != 1 {
		t.Fatalf("next call: %v %v", res, err)
	}
	for _, ms := range []int64{-1, MaxCallTimeout.Milliseconds() + 1} {
		_, err := s.cl.Call(ctx, CallRequest{Module: "counter", Function: "version", TimeoutMs: ms})
		if !errors.As(err, &e) || e.Code != CodeBadRequest {
			t.Errorf("timeout_ms %d: %v, want bad request", ms, err)
		}
	}
}

// TestRawSend: the client sends a message given as bytes as the raw body,
// which reaches the mailbox; a raw send without exactly the one pid
// parameter, to nobody, too large, or of another media type is refused
// and queues nothing.
func TestRawSend(t *testing.T) {
	s := newTestServer(t, Options{MaxRequestBytes: 64 << 10})
	ctx := ctxT(t)
	if _, err := s.cl.Load(ctx, LoadRequest{Modules: []ModuleSource{{"cpu", wasm("cpu")}, {"spinner", wasm("spinner")}}}); err != nil {
		t.Fatal(err)
	}
	pid, err := s.cl.Spawn(ctx, SpawnRequest{Module: "spinner", Function: "run"}) // never receives
	if err != nil {
		t.Fatal(err)
	}
	mailbox := func() int {
		t.Helper()
		ps, err := s.cl.ProcsByPID(ctx, pid)
		if err != nil || len(ps) != 1 {
			t.Fatalf("procs %s: %v, %v", pid, ps, err)
		}
		return ps[0].MailboxLen
	}
	msg := bytes.Repeat([]byte{0, 1, 2, 255}, 4096)
	if err := s.cl.Send(ctx, SendRequest{PID: pid, MessageBase64: msg}); err != nil {
		t.Fatal(err)
	}
	if n := mailbox(); n != 1 {
		t.Fatalf("mailbox %d after a raw send, want 1", n)
	}
	for _, tc := range []struct {
		name, query, ctype string
		body               []byte
		code               string
	}{
		{"no pid", "", "application/octet-stream", msg, CodeBadRequest},
		{"two pids", "?pid=" + pid + "&pid=" + pid, "application/octet-stream", msg, CodeBadRequest},
		{"another parameter", "?pid=" + pid + "&x=1", "application/octet-stream", msg, CodeBadRequest},
		{"nobody", "?pid=00000000-0000-0000-0000-000000000000", "application/octet-stream", msg, CodeNoProc},
		{"too large", "?pid=" + pid, "application/octet-stream", make([]byte, 65<<10), CodeTooLarge},
		{"not octet-stream", "?pid=" + pid, "text/plain", msg, CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, "http://wasmhot/v1/send"+tc.query, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tc.ctype)
			resp, err := s.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e Error
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode == http.StatusOK || e.Code != tc.code {
				t.Errorf("status %d, error %+v (%v), want code %s", resp.StatusCode, e, err, tc.code)
			}
		})
	}
	if n := mailbox(); n != 1 {
		t.Errorf("mailbox %d after the refused sends, want 1", n)
	}
}
