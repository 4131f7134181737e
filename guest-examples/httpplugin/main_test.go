package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/testmode"
)

// cacheDir is the compilation cache of the tests' hosts: each plugin
// version is compiled once, and every later load of the same bytes (the
// reloads of TestReloadUnderLoad, the other tests) reads the compiled code
// from it, as a production host configured WithCompilationCacheDir would.
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasmhot-httpplugin-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func newHost(t *testing.T) *host.Host {
	t.Helper()
	h, err := host.New(context.Background(), Config(io.Discard, map[string]string{"site": "wasmhot"}).
		WithCompilationCacheDir(cacheDir).WithStartTimeout(time.Minute)) // the Go guest's _initialize is slow under -race
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

func pluginWasm(t testing.TB, v int) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "wasm-langs", fmt.Sprintf("go_httpplugin_v%d.wasm", v)))
	if err != nil {
		t.Fatalf("%v (build the guests with guest-examples/build-langs.sh)", err)
	}
	return b
}

// get returns the status and body of one request.
func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestReloadUnderLoad serves HTTP on loopback with the Go plugin while four
// clients send requests without pause, and reloads the plugin 100 times
// (6 unless WASMHOT_LONG=1: a reload of a Go guest takes a second under
// the race detector), alternating v2 and v1. No request may fail, and after every reload the
// next request is answered by the version just loaded.
func TestReloadUnderLoad(t *testing.T) {
	ctx := context.Background()
	h := newHost(t)
	wasm := [3][]byte{nil, pluginWasm(t, 1), pluginWasm(t, 2)}

	// The first load of each version compiles it (unless an earlier test
	// did); the 100 reloads then take the compiled code from the cache and
	// measure what else a reload does: decode, trial instance (the Go
	// runtime's initialisation), switch, purge.
	for _, v := range []int{2, 1} {
		start := time.Now()
		if _, err := Reload(ctx, h, wasm[v]); err != nil {
			t.Fatal(err)
		}
		t.Logf("first load of plugin v%d (%d bytes): %v", v, len(wasm[v]), time.Since(start).Round(time.Millisecond))
	}
	handler, err := NewHandler(h)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler) // 127.0.0.1, a free port
	defer srv.Close()
	c := srv.Client()
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 16

	var ok, failed, seenV1, seenV2 atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				status, body, err := get(c, fmt.Sprintf("%s/client%d/%d", srv.URL, g, i))
				switch {
				case err != nil || status != http.StatusOK:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d, %q, %v", status, body, err))
				case strings.HasPrefix(body, "hello from plugin v1: GET /client"):
					seenV1.Add(1)
					ok.Add(1)
				case strings.HasPrefix(body, "hello from plugin v2: GET /client"):
					seenV2.Add(1)
					ok.Add(1)
				default:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("unexpected body %q", body))
				}
			}
		}(g)
	}

	reloads := testmode.Rounds(6, 100)
	start := time.Now()
	for i := 1; i <= reloads; i++ {
		v := 2 - i%2 // 1: v2, 2: v1, ..., the last: v1
		vsn, err := Reload(ctx, h, wasm[v])
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		if vsn != uint64(i+2) {
			t.Fatalf("reload %d: vsn %d", i, vsn)
		}
		status, body, err := get(c, srv.URL+"/check")
		if want := fmt.Sprintf("hello from plugin v%d: GET /check", v); err != nil || status != http.StatusOK || !strings.HasPrefix(body, want) {
			t.Fatalf("after reload %d to v%d: %d %q %v, want %q", i, v, status, body, err, want)
		}
	}
	took := time.Since(start)
	// The last reload: v2 again, and a request with a body.
	if _, err := Reload(ctx, h, wasm[2]); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()

	resp, err := c.Post(srv.URL+"/echo", "text/plain", strings.NewReader("hot code"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "hello from plugin v2: POST /echo (8 bytes) HOT CODE\n"; string(b) != want {
		t.Errorf("POST: %q, want %q", b, want)
	}
	if status, _, _ := get(c, srv.URL+"/nothere"); status != http.StatusNotFound {
		t.Errorf("/nothere: status %d, want 404", status)
	}
	// A setting of the program, asked for through the host function
	// config.get, the same across the reloads.
	if status, body, err := get(c, srv.URL+"/config/site"); status != http.StatusOK || body != "site=wasmhot\n" {
		t.Errorf("/config/site: %d %q %v", status, body, err)
	}
	if status, body, _ := get(c, srv.URL+"/config/nope"); status != http.StatusNotFound || !strings.HasPrefix(body, "no setting nope") {
		t.Errorf("/config/nope: %d %q", status, body)
	}

	t.Logf("%d reloads in %v (%v each), %d requests served meanwhile (v1 %d, v2 %d), %d failed",
		reloads, took.Round(time.Millisecond), (took / time.Duration(reloads)).Round(time.Microsecond), ok.Load(), seenV1.Load(), seenV2.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d failed requests; first: %v", failed.Load(), firstErr.Load())
	}
	if seenV1.Load() == 0 || seenV2.Load() == 0 {
		t.Fatalf("clients saw v1 %d times, v2 %d times: want both", seenV1.Load(), seenV2.Load())
	}
}

// TestWatch: a change of the file reloads the plugin; a file that is not a
// module is refused and the running plugin goes on serving.
func TestWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := newHost(t)
	path := filepath.Join(t.TempDir(), "plugin.wasm")
	v1 := pluginWasm(t, 1)
	if err := os.WriteFile(path, v1, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Reload(ctx, h, v1); err != nil {
		t.Fatal(err)
	}
	handler, err := NewHandler(h)
	if err != nil {
		t.Fatal(err)
	}
	serves := func(want string) {
		t.Helper()
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest("GET", "/y", nil))
		if !strings.HasPrefix(rec.Body.String(), want) {
			t.Fatalf("got %d %q, want %q...", rec.Code, rec.Body, want)
		}
	}
	logs := make(chan string, 16)
	go Watch(ctx, h, path, v1, 10*time.Millisecond, func(f string, a ...any) { logs <- fmt.Sprintf(f, a...) })
	change := func(b []byte, want string) {
		t.Helper()
		// Through a rename, as build tools write: the watch never sees half a file.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		select {
		case l := <-logs:
			if !strings.Contains(l, want) {
				t.Fatalf("log %q, want %q", l, want)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("the watch did not notice")
		}
	}
	change([]byte("not wasm"), "not loaded")
	serves("hello from plugin v1: GET /y")
	change(pluginWasm(t, 2), "vsn 2 loaded")
	serves("hello from plugin v2: GET /y")
}
