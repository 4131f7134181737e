package control

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/hosttest"
)

// tcpServer serves opts on a loopback TCP listener with token.
func tcpServer(t *testing.T, opts Options, token string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h, err := host.New(ctx, host.NewConfig().WithLog(nil))
	if err != nil {
		t.Fatal(err)
	}
	opts.Host = h
	ln, err := ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	srv := NewServer(opts)
	if opts.testServer != nil {
		*opts.testServer = srv
	}
	go func() { done <- srv.Serve(ctx, ln, token) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = h.Close(context.Background())
	})
	return ln.Addr().String()
}

// rawGet sends one GET on a new connection and returns the status line and
// whether the server then closed the connection.
func rawGet(t *testing.T, addr, auth string) (status string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	req := "GET /v1/modules HTTP/1.1\r\nHost: node\r\n"
	if auth != "" {
		req += "Authorization: " + auth + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// A closed connection reads EOF; a kept-alive one times out.
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = br.ReadByte()
	return resp.Status, err == io.EOF
}

// TestUnauthorizedConnectionCloses: a request without the token gets 401
// and its connection is closed at once; the scheme is case-insensitive.
func TestUnauthorizedConnectionCloses(t *testing.T) {
	const token = "0123456789abcdef-token"
	addr := tcpServer(t, Options{}, token)
	for _, auth := range []string{"", "Bearer wrong", "Basic " + token, token} {
		if status, closed := rawGet(t, addr, auth); !strings.HasPrefix(status, "401") || !closed {
			t.Errorf("auth %q: %s, closed %v; want 401 and closed", auth, status, closed)
		}
	}
	for _, auth := range []string{"Bearer " + token, "bearer " + token, "BEARER  " + token} {
		if status, closed := rawGet(t, addr, auth); !strings.HasPrefix(status, "200") || closed {
			t.Errorf("auth %q: %s, closed %v; want 200 and kept alive", auth, status, closed)
		}
	}
}

// TestConnectionLimit: connections that send nothing hold the listener's
// slots only until the idle timeout; then the server closes them and a
// waiting client is served.
func TestConnectionLimit(t *testing.T) {
	addr := tcpServer(t, Options{MaxConns: 2, IdleTimeout: 200 * time.Millisecond}, "")
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	if status, _ := rawGet(t, addr, ""); !strings.HasPrefix(status, "200") {
		t.Fatalf("a client after two idle ones: %s, want 200", status)
	}
	for i, c := range idle {
		_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("idle connection %d: %v, want closed by the server (EOF)", i, err)
		}
	}
}

func TestLimitListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := limitListener(ln, 1)
	defer l.Close()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1, c2 := dial(), dial()
	defer c1.Close()
	defer c2.Close()
	a1, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan net.Conn, 1)
	go func() {
		a, err := l.Accept()
		if err == nil {
			second <- a
		}
	}()
	select {
	case <-second:
		t.Fatal("a second connection was accepted while the only slot was taken")
	case <-time.After(50 * time.Millisecond):
	}
	a1.Close()
	a1.Close() // a second Close gives nothing back twice
	select {
	case a2 := <-second:
		a2.Close()
	case <-time.After(waitTimeout):
		t.Fatal("the slot was not given back")
	}
}

// TestBodiesInFlight: request bodies count against MaxBodyBytes as they
// are read, not as declared: a slow client that declared much and sent
// little holds little; once the bytes read would pass the bound, a request
// fails at once with 503 busy, and goes through again when they are given
// back.
func TestBodiesInFlight(t *testing.T) {
	var srv *Server
	addr := tcpServer(t, Options{MaxRequestBytes: 4 << 20, MaxBodyBytes: 4 << 20, testServer: &srv}, "")
	post := func(size int) (int, string) {
		// A name the decoder must read whole (and then refuses, with 400,
		// when the bytes fit). Spawn takes large bodies (a state).
		return postJSON(t, addr, "/v1/spawn", strings.NewReader(`{"module":"`+strings.Repeat("n", size)+`","function":"f"}`))
	}
	// A load that declares 3.5 MiB and sends a little of it holds little.
	slow := slowClient(t, addr, "POST /v1/load HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: 3670016\r\n\r\n{\"modules\":[")
	if code, body := post(2 << 20); code != 400 {
		t.Fatalf("a 2 MiB request beside a slow one that declared 3.5 MiB: %d %s, want it read (400: a bad name)", code, body)
	}
	// Once it has sent 3 MiB, a request of 1 MiB more would pass the 4.
	if _, err := io.WriteString(slow, strings.Repeat(" ", 3<<20)); err != nil {
		t.Fatal(err)
	}
	// The node has read what the slow client sent.
	hosttest.WaitFor(t, func() bool { return srv.admit.bodies.Load() >= 3<<20 })
	busy := ""
	hosttest.WaitFor(t, func() bool {
		code, body := post(3 << 20)
		busy = body
		return code == 503
	})
	if !strings.Contains(busy, `"busy"`) {
		t.Errorf("503 body %s, want code busy", busy)
	}
	slow.Close()
	hosttest.WaitFor(t, func() bool { code, _ := post(3 << 20); return code == 400 })
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// TestClientReusesConnection: a client's requests, answered or failed, go
// over one connection, not a new one each (a connection closed after each
// answer costs the node an accept and a goroutine per request).
func TestClientReusesConnection(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	h, err := host.New(ctx, host.NewConfig().WithLog(nil))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	done := make(chan error, 1)
	go func() { done <- NewServer(Options{Host: h}).Serve(ctx, cl, "tok") }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = h.Close(context.Background())
	})
	c, err := Dial("tcp:"+ln.Addr().String(), "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Enough modules that the answer to modules takes more than one read.
	var mods []ModuleSource
	for i := range 40 {
		mods = append(mods, ModuleSource{Name: fmt.Sprintf("counter%d", i), Wasm: wasm("counter_v1")})
	}
	if _, err := c.Load(ctx, LoadRequest{Modules: mods}); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if i%2 == 0 {
			if _, err := c.Modules(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var ce *Error
		if _, err := c.Call(ctx, CallRequest{Module: "nope", Function: "f"}); !errors.As(err, &ce) {
			t.Fatalf("call of an unknown module: %v, want an *Error", err)
		}
	}
	if n := cl.accepted.Load(); n != 1 {
		t.Fatalf("7 requests took %d connections, want 1", n)
	}
}

// TestReadAll: a body is read whole and exactly, whatever its declared
// length; a declared length larger than what comes does not make the
// buffer larger than firstBodyBuffer, and a body of its declared length
// fits a buffer of the pool's size for it (not one twice as large for the
// read that sees the end).
func TestReadAll(t *testing.T) {
	pool := &bodyPool{}
	for _, tc := range []struct {
		size     int
		declared int64
	}{
		{0, 0}, {0, -1}, {1, 1}, {511, -1}, {512, -1}, {513, 513}, {firstBodyBuffer, firstBodyBuffer},
		{firstBodyBuffer + 1, firstBodyBuffer + 1}, {1 << 20, 1 << 20}, {3<<20 + 7, 3<<20 + 7}, {100_000, -1},
		{10, 50_000_000}, {40 << 20, 40 << 20},
	} {
		body := make([]byte, tc.size)
		for i := range body {
			body[i] = byte(i * 7)
		}
		got, err := readAll(io.LimitReader(&pieces{b: body, n: 1000}, int64(tc.size)), tc.declared, pool)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("size %d declared %d: %d bytes, %v", tc.size, tc.declared, len(got), err)
		}
		if tc.declared > int64(tc.size) && cap(got) > firstBodyBuffer {
			t.Errorf("size %d declared %d: buffer of %d bytes", tc.size, tc.declared, cap(got))
		}
		if c, ok := poolClass(tc.size); ok && tc.declared == int64(tc.size) && tc.size >= firstBodyBuffer && cap(got) != firstBodyBuffer<<c {
			t.Errorf("size %d declared %d: buffer of %d bytes, want %d", tc.size, tc.declared, cap(got), firstBodyBuffer<<c)
		}
		pool.put(got)
		if pool.kept > poolMaxBytes {
			t.Fatalf("the pool keeps %d bytes, more than %d", pool.kept, poolMaxBytes)
		}
	}
	if _, err := readAll(iotest.ErrReader(errors.New("cut")), 10, pool); err == nil || err.Error() != "cut" {
		t.Errorf("a failing reader: %v", err)
	}
}

// TestBodyPool: buffers given back are handed out again, emptied; the
// pool keeps only its sizes, at most poolPerClass of each and
// poolMaxBytes in all.
func TestBodyPool(t *testing.T) {
	p := &bodyPool{}
	b := p.get(1 << 20)
	if len(b) != 0 || cap(b) != 1<<20 {
		t.Fatalf("get(1 MiB): len %d cap %d", len(b), cap(b))
	}
	b = append(b, "dirty"...)
	p.put(b)
	if again := p.get(600 << 10); cap(again) != 1<<20 || len(again) != 0 || &again[:1][0] != &b[0] {
		t.Fatalf("get(600 KiB) after a put of 1 MiB: len %d cap %d, not the same buffer", len(again), cap(again))
	}
	p.put(make([]byte, 0, 100_000)) // not a pooled size
	p.put(make([]byte, 0, 512))
	if p.kept != 0 {
		t.Fatalf("odd sizes kept: %d bytes", p.kept)
	}
	for range poolPerClass + 3 {
		p.put(make([]byte, 0, firstBodyBuffer))
	}
	if n := len(p.free[0]); n != poolPerClass {
		t.Fatalf("%d buffers of the first size kept, want %d", n, poolPerClass)
	}
	for range 3 {
		p.put(make([]byte, 0, firstBodyBuffer<<(poolClasses-1)))
	}
	if p.kept > poolMaxBytes {
		t.Fatalf("the pool keeps %d bytes, more than %d", p.kept, poolMaxBytes)
	}
	if b := p.get(64 << 20); cap(b) != 64<<20 {
		t.Fatalf("get(64 MiB): cap %d", cap(b))
	}
}

// pieces reads b n bytes at a time.
type pieces struct {
	b []byte
	n int
}

func (p *pieces) Read(q []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	k := copy(q[:min(len(q), p.n)], p.b)
	p.b = p.b[k:]
	return k, nil
}

// TestRequestSlots: while every request slot is taken, a request that does
// work waits for one, and the cheap reads (modules, health) are answered;
// a client that has not sent its whole body holds no slot.
func TestRequestSlots(t *testing.T) {
	var srv *Server
	addr := tcpServer(t, Options{testServer: &srv}, "")
	get := func(path string) (int, error) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	slowClient(t, addr, "POST /v1/spawn HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"module\":")
	hosttest.WaitFor(t, func() bool { return srv.admit.bodies.Load() > 0 }) // its body is being read
	for range cap(srv.admit.requests) {
		select {
		case srv.admit.requests <- struct{}{}:
		default:
			t.Fatal("a request slot is taken by the client that has not sent its body")
		}
	}
	procs := make(chan int, 1)
	go func() {
		code, err := get("/v1/procs")
		if err != nil {
			t.Error(err)
		}
		procs <- code
	}()
	for _, path := range []string{"/v1/modules", "/healthz"} {
		if code, err := get(path); code != http.StatusOK || err != nil {
			t.Errorf("%s with every request slot taken: %d %v", path, code, err)
		}
	}
	select {
	case code := <-procs:
		t.Fatalf("procs answered %d with every request slot taken", code)
	case <-time.After(100 * time.Millisecond):
	}
	<-srv.admit.requests
	select {
	case code := <-procs:
		if code != http.StatusOK {
			t.Errorf("procs once a slot is free: %d", code)
		}
	case <-time.After(waitTimeout):
		t.Fatal("procs still waits once a slot is free")
	}
}

// TestSmallRequests: a request that only names things (call, kill,
// purge...) is refused past SmallRequestBytes, declared or not, before its
// body is decoded; one that carries bytes (spawn) is not.
func TestSmallRequests(t *testing.T) {
	addr := tcpServer(t, Options{}, "")
	post := func(path string, body io.Reader) (int, string) { return postJSON(t, addr, path, body) }
	name := strings.Repeat("f", SmallRequestBytes)
	call := `{"module":"m","function":"` + name + `"}`
	if code, body := post("/v1/call", strings.NewReader(call)); code != 413 || !strings.Contains(body, `"too_large"`) {
		t.Errorf("a call with a 64 KiB name: %d %s", code, body)
	}
	// Without a declared length (chunked), the cap holds as it is read.
	if code, body := post("/v1/call", io.MultiReader(strings.NewReader(call))); code != 413 || !strings.Contains(body, `"too_large"`) {
		t.Errorf("a chunked call with a 64 KiB name: %d %s", code, body)
	}
	if code, body := post("/v1/call", strings.NewReader(`{"module":"m","function":"`+strings.Repeat("f", 2000)+`"}`)); code != 400 || !strings.Contains(body, `"bad_name"`) {
		t.Errorf("a call with a 2,000-byte name: %d %s", code, body)
	}
	if code, body := post("/v1/spawn", strings.NewReader(`{"module":"m","function":"`+name+`"}`)); code != 400 || !strings.Contains(body, `"bad_name"`) {
		t.Errorf("a spawn with a 64 KiB name: %d %s, want it read (then refused as a bad name)", code, body)
	}
}

// postJSON posts body to addr's path and returns the status and the answer.
func postJSON(t *testing.T, addr, path string, body io.Reader) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+path, "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// slowClient connects to addr and sends the start of a request: head
// (its request line and headers, with the declared length) and the first
// bytes of its body.
func slowClient(t *testing.T, addr, head string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRefusedBodiesAnswered: a request refused for its declared size
// before its body is read still gets its answer, and its client can write
// the whole body: the node reads (and drops) a body of up to
// refusedDrainBytes before it answers. A connection closed on unread
// bytes is reset, and a client still writing then fails with "broken
// pipe" or "connection reset" instead of reading the refusal.
func TestRefusedBodiesAnswered(t *testing.T) {
	addr := tcpServer(t, Options{}, "")
	for i := range 3 {
		body := `{"module":"m","function":"` + strings.Repeat("f", refusedDrainBytes-64) + `"}`
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		wrote := make(chan error, 1)
		go func() {
			_, err := fmt.Fprintf(c, "POST /v1/call HTTP/1.1\r\nHost: n\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			wrote <- err
		}()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("request %d: %v, want a 413 answer", i, err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != 413 || !strings.Contains(string(b), `"too_large"`) {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
		if err := <-wrote; err != nil {
			t.Fatalf("request %d: writing the body: %v", i, err)
		}
		c.Close()
	}
}
