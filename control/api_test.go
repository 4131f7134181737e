package control

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wasmhot/wasmhot/host"
)

// wantCode fails the test unless err is an *Error with code.
func wantCode(t *testing.T, what string, err error, code string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Errorf("%s: error %v, want code %s", what, err, code)
		return nil
	}
	return e
}

// Every request that names a process takes a unique prefix of its pid;
// a prefix nobody has is noproc, one several processes share is
// ambiguous, and neither changes anything.
func TestPIDPrefixes(t *testing.T) {
	s := newTestServer(t, Options{})
	ctx := ctxT(t)
	cl := s.cl
	if _, err := cl.Load(ctx, LoadRequest{Modules: []ModuleSource{{"a", wasm("a_loop_v1")}, {"probe", wasm("probe")}}}); err != nil {
		t.Fatal(err)
	}
	pid, err := cl.Spawn(ctx, SpawnRequest{Module: "a", Function: "run_local"})
	if err != nil {
		t.Fatal(err)
	}
	short := pid[:8] // as the demo prints them
	lines := make(chan string, 16)
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	go func() { _ = cl.Logs(fctx, true, func(l string) { lines <- l }) }()
	if err := cl.Send(ctx, SendRequest{PID: strings.ToUpper(short), Message: "hi"}); err != nil {
		t.Fatalf("send to %s: %v", short, err)
	}
	select {
	case l := <-lines:
		if !strings.Contains(l, pid+": v1 got hi") {
			t.Errorf("line %q", l)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the message sent to a pid prefix did not arrive")
	}
	if ok, err := cl.Check(ctx, pid[:4], "a"); err != nil || ok {
		t.Errorf("check %s a = %v, %v; want false", pid[:4], ok, err)
	}
	ps, err := cl.ProcsByPID(ctx, pid[:13]) // with its dash
	if err != nil || len(ps) != 1 || ps[0].PID != pid {
		t.Errorf("procs pid=%s: %+v, %v", pid[:13], ps, err)
	}

	for _, bad := range []string{"", "abc", "xyz12345", pid + "0", "../../etc", strings.Repeat("a", 2000)} {
		err := cl.Send(ctx, SendRequest{PID: bad, Message: "x"})
		if e := wantCode(t, "send to "+bad, err, CodeBadRequest); e != nil && len(e.Message) > 200 {
			t.Errorf("the error quotes too much: %d bytes", len(e.Message))
		}
	}
	// A prefix no process has.
	other := "0000"
	if strings.HasPrefix(pid, other) {
		other = "ffff"
	}
	wantCode(t, "send to "+other, cl.Send(ctx, SendRequest{PID: other, Message: "x"}), CodeNoProc)
	_, err = cl.Kill(ctx, other)
	wantCode(t, "kill "+other, err, CodeNoProc)

	// Two processes whose pids share 4 hex digits: spawn short-lived ones
	// until two do (the node keeps the last 1024 that exited).
	var prefix string
	for i := 0; prefix == "" && i < 20000; i++ {
		p, err := cl.Spawn(ctx, SpawnRequest{Module: "probe", Function: "trap"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.h.Wait(ctx, mustParse(t, p)); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, q := range s.h.Processes() {
			k := q.PID.String()[:4]
			if seen[k] {
				prefix = k
			}
			seen[k] = true
		}
	}
	if prefix == "" {
		t.Fatal("no two pids share 4 hex digits")
	}
	e := wantCode(t, "send to "+prefix, cl.Send(ctx, SendRequest{PID: prefix, Message: "x"}), CodeAmbiguous)
	if e != nil && !strings.Contains(e.Message, "give more digits") {
		t.Errorf("ambiguous: %q", e.Message)
	}
	_, err = cl.ProcsByPID(ctx, prefix)
	wantCode(t, "procs pid="+prefix, err, CodeAmbiguous)
	if p, err := s.h.Process(mustParse(t, pid)); err != nil || p.Exit != nil || p.MailboxLen != 0 {
		t.Errorf("the process changed: %+v, %v", p, err)
	}
}

func mustParse(t *testing.T, pid string) host.PID {
	t.Helper()
	p, err := uuid.Parse(pid)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// kill ends a live process with reason killed; a process that exited is
// noproc.
func TestKill(t *testing.T) {
	s := newTestServer(t, Options{})
	ctx := ctxT(t)
	cl := s.cl
	if _, err := cl.Load(ctx, LoadRequest{Modules: []ModuleSource{{"a", wasm("a_loop_v1")}}}); err != nil {
		t.Fatal(err)
	}
	pid, err := cl.Spawn(ctx, SpawnRequest{Module: "a", Function: "run"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cl.Kill(ctx, pid[:8])
	if err != nil || got != pid {
		t.Fatalf("kill %s = %q, %v; want %s", pid[:8], got, err, pid)
	}
	exit, err := s.h.Wait(ctx, mustParse(t, pid))
	if err != nil || exit.Reason != host.Killed {
		t.Errorf("exit %v, %v; want killed", exit, err)
	}
	_, err = cl.Kill(ctx, pid)
	if e := wantCode(t, "kill an exited process", err, CodeNoProc); e != nil && !strings.Contains(e.Message, "exited already: killed") {
		t.Errorf("message %q", e.Message)
	}
	_, err = cl.Kill(ctx, "nope")
	wantCode(t, "kill nope", err, CodeBadRequest)
}

// call-bytes runs a function by the bytes convention, text or bytes in,
// bytes out.
func TestCallBytes(t *testing.T) {
	s := newTestServer(t, Options{})
	ctx := ctxT(t)
	cl := s.cl
	if _, err := cl.Load(ctx, LoadRequest{Modules: []ModuleSource{{"counter", wasm("counter_v1")}}}); err != nil {
		t.Fatal(err)
	}
	out, err := cl.CallBytes(ctx, CallBytesRequest{Module: "counter", Function: "echo", Input: "hello"})
	if err != nil || string(out) != "v1:hello" {
		t.Errorf("echo hello = %q, %v", out, err)
	}
	out, err = cl.CallBytes(ctx, CallBytesRequest{Module: "counter", Function: "echo", InputBase64: []byte{0, 1, 255}})
	if err != nil || string(out) != "v1:\x00\x01\xff" {
		t.Errorf("echo bytes = %q, %v", out, err)
	}
	out, err = cl.CallBytes(ctx, CallBytesRequest{Module: "counter", Function: "echo"})
	if err != nil || string(out) != "v1:" {
		t.Errorf("echo nothing = %q, %v", out, err)
	}
	_, err = cl.CallBytes(ctx, CallBytesRequest{Module: "counter", Function: "echo", Input: "a", InputBase64: []byte("b")})
	wantCode(t, "both inputs", err, CodeBadRequest)
	_, err = cl.CallBytes(ctx, CallBytesRequest{Module: "counter", Function: "nope"})
	wantCode(t, "undef", err, CodeUndef)
	_, err = cl.CallBytes(ctx, CallBytesRequest{Module: "counter", Function: "add"})
	wantCode(t, "not a bytes function", err, CodeBadArity)
	_, err = cl.CallBytes(ctx, CallBytesRequest{Module: "Counter", Function: "echo"})
	wantCode(t, "bad name", err, CodeBadName)
	_, err = cl.CallBytes(ctx, CallBytesRequest{Module: "counter", Function: "echo", TimeoutMs: -1})
	wantCode(t, "bad timeout", err, CodeBadRequest)
}

// Answers about a module the node does not know say so.
func TestUnknownModule(t *testing.T) {
	s := newTestServer(t, Options{})
	ctx := ctxT(t)
	cl := s.cl
	if _, err := cl.Load(ctx, LoadRequest{Modules: []ModuleSource{{"a", wasm("a_loop_v1")}}}); err != nil {
		t.Fatal(err)
	}
	pid, err := cl.Spawn(ctx, SpawnRequest{Module: "a", Function: "run"})
	if err != nil {
		t.Fatal(err)
	}
	var res BoolResponse
	for _, path := range []string{"/v1/soft-purge", "/v1/delete"} {
		for name, unknown := range map[string]bool{"a": false, "nope": true} {
			res = BoolResponse{}
			if err := cl.do(ctx, "POST", path, ModuleRequest{name}, &res); err != nil || res.UnknownModule != unknown {
				t.Errorf("%s %s: %+v, %v; want unknown_module %v", path, name, res, err, unknown)
			}
		}
	}
	// "a" was deleted above: it still has old code, so it is known.
	pr, err := cl.Purge(ctx, "a")
	if err != nil || pr.UnknownModule || !pr.Result {
		t.Errorf("purge a: %+v, %v", pr, err)
	}
	pr, err = cl.Purge(ctx, "nope")
	if err != nil || !pr.UnknownModule || pr.Result {
		t.Errorf("purge nope: %+v, %v", pr, err)
	}
	res = BoolResponse{}
	if err := cl.do(ctx, "POST", "/v1/check", CheckRequest{PID: pid, Module: "nope"}, &res); err != nil || !res.UnknownModule || res.Result {
		t.Errorf("check nope: %+v, %v", res, err)
	}
}

// Wait waits for a node that is starting, and fails as a call would for
// one that never comes.
func TestClientWait(t *testing.T) {
	ctx := ctxT(t)
	sock := filepath.Join(t.TempDir(), "n.sock")
	cl, err := Dial(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	err = cl.Wait(ctx, 0)
	if !errors.Is(err, syscall.ENOENT) || !strings.HasPrefix(err.Error(), "node "+sock+": ") {
		t.Errorf("wait for no node: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cl.Wait(ctx, waitTimeout) }()
	time.Sleep(100 * time.Millisecond) // let it find no socket a few times
	ln, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	if err := <-done; err != nil {
		t.Errorf("wait for a node that starts: %v", err)
	}
	// A TCP address nothing listens on is refused until the wait ends.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	tcl, _ := Dial(addr, "t")
	if err := tcl.Wait(ctx, 50*time.Millisecond); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("wait for nothing on %s: %v", addr, err)
	}
}

// A followed log stream that the node ends is ErrNodeGone; one the
// caller ends is nil.
func TestLogsNodeGone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hub := NewHub(nil, 0)
	h, err := host.New(ctx, host.NewConfig().WithLog(hub))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	sock := filepath.Join(t.TempDir(), "n.sock")
	ln, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- NewServer(Options{Host: h, Logs: hub}).Serve(sctx, ln, "") }()
	cl, _ := Dial(sock, "")
	defer cl.Close()
	// A kept line: the stream is open once it comes.
	if _, err := hub.Write([]byte("m v1 p: kept\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitTimeout)
	for len(hub.Recent()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the hub keeps no line")
		}
		time.Sleep(10 * time.Millisecond)
	}
	lines := make(chan string, 16)
	got := make(chan error, 1)
	go func() { got <- cl.Logs(ctxT(t), true, func(l string) { lines <- l }) }()
	select {
	case <-lines:
	case <-time.After(waitTimeout):
		t.Fatal("the log stream did not open")
	}
	stop()
	select {
	case err := <-got:
		if !errors.Is(err, ErrNodeGone) {
			t.Errorf("logs after the node stopped: %v, want ErrNodeGone", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("logs --follow did not end with the node")
	}
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
}
