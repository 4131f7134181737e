// Command httpplugin serves HTTP on loopback with a request handler written
// in Go and compiled to Wasm (the plugin), and replaces the plugin while it
// serves, without dropping a request.
//
//	cp guest-examples/wasm-langs/go_httpplugin_v1.wasm /tmp/plugin.wasm
//	go run ./guest-examples/httpplugin -plugin /tmp/plugin.wasm -set site=example
//	curl http://127.0.0.1:8080/hello
//	curl http://127.0.0.1:8080/config/site    # site=example, asked of the host
//	cp guest-examples/wasm-langs/go_httpplugin_v2.wasm /tmp/plugin.wasm   # reloaded
//
// Every request is one bytes call of the plugin's handle function through
// the host's export table (host.Func.CallBytes): "METHOD URI\n" and the body
// in, "STATUS CONTENT-TYPE\n" and the body out. The program polls the plugin
// file and, when it changes, reloads it with host.Reload: the requests in
// flight finish in the version they started in, the next ones run the new
// version, and the version before is purged. A plugin that fails to load
// (bad bytes, a trapping start) changes nothing: the old one goes on.
//
// The plugin can ask the program for its settings (-set NAME=VALUE)
// through a host function, config.get (see Config): host functions belong
// to the program, so they stay the same across reloads of the plugin.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wasmhot/wasmhot/host"
)

// Module is the name the plugin is loaded under.
const Module = "plugin"

// maxBody bounds a request body (the host's message limit bounds it too).
const maxBody = 1 << 20

// Handler serves HTTP requests with the plugin's handle function.
type Handler struct {
	fn *host.Func
}

// NewHandler returns a handler calling the plugin module loaded in h.
func NewHandler(h *host.Host) (*Handler, error) {
	fn, err := h.Func(Module, "handle")
	if err != nil {
		return nil, err
	}
	return &Handler{fn: fn}, nil
}

// ServeHTTP encodes the request, calls the plugin and writes its response.
// A failed call is a 502 with the error.
func (s *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	req := make([]byte, 0, len(r.Method)+len(r.URL.RequestURI())+2+len(body))
	req = append(append(append(append(req, r.Method...), ' '), r.URL.RequestURI()...), '\n')
	req = append(req, body...)
	out, err := s.fn.CallBytes(r.Context(), req)
	if err != nil {
		http.Error(w, "plugin: "+err.Error(), http.StatusBadGateway)
		return
	}
	status, ctype, resp, err := parseResponse(out)
	if err != nil {
		http.Error(w, "plugin: "+err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(status)
	_, _ = w.Write(resp)
}

// parseResponse splits "STATUS CONTENT-TYPE\nbody".
func parseResponse(out []byte) (int, string, []byte, error) {
	head, body, ok := bytes.Cut(out, []byte("\n"))
	if !ok {
		return 0, "", nil, errors.New("response without a status line")
	}
	code, ctype, _ := bytes.Cut(head, []byte(" "))
	status, err := strconv.Atoi(string(code))
	if err != nil || status < 100 || status > 999 {
		return 0, "", nil, fmt.Errorf("bad status %q", code)
	}
	return status, string(ctype), body, nil
}

// Config is the host configuration for the plugin: sandboxed, WASI granted
// to the plugin module only (Go guests need it), guest log lines to logw,
// and the host function config.get, which answers the value of a setting
// ("" when there is none).
func Config(logw io.Writer, settings map[string]string) host.Config {
	get := host.NewHostFunc("get", func(key string) string { return settings[key] })
	return host.NewConfig().WithWASI(Module).WithLog(logw).WithHostFunctions("config", get)
}

// settingsFlag collects -set NAME=VALUE flags.
type settingsFlag map[string]string

func (s settingsFlag) String() string { return fmt.Sprint(map[string]string(s)) }

func (s settingsFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=VALUE, not %q", v)
	}
	s[name] = value
	return nil
}

// Reload replaces the plugin with wasm (host.Reload: purge the old
// version, load the new one) and returns the new version number.
func Reload(ctx context.Context, h *host.Host, wasm []byte) (uint64, error) {
	vi, _, err := h.Reload(ctx, Module, wasm)
	return vi.Vsn, err
}

// Watch polls path every interval and reloads the plugin when its contents
// change from loaded (the bytes running now), until ctx ends. Load errors
// are logged; the running plugin stays.
func Watch(ctx context.Context, h *host.Host, path string, loaded []byte, interval time.Duration, logf func(string, ...any)) {
	last := sha256.Sum256(loaded)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil {
			if sum := sha256.Sum256(b); sum != last {
				if vsn, err := Reload(ctx, h, b); err != nil {
					logf("plugin %s: not loaded: %v", path, err)
				} else {
					logf("plugin %s: vsn %d loaded (%d bytes)", path, vsn, len(b))
				}
				last = sum // a bad file is not retried until it changes
			}
		} else {
			logf("plugin %s: %v", path, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "loopback address to serve on")
	plugin := flag.String("plugin", "", "the plugin's .wasm file, reloaded when it changes (required)")
	poll := flag.Duration("poll", 250*time.Millisecond, "how often to look at the plugin file")
	cache := flag.String("cache-dir", "", "keep compiled plugins in this directory (a reload of bytes seen before skips compiling)")
	settings := settingsFlag{}
	flag.Var(settings, "set", "a setting NAME=VALUE the plugin can ask for (GET /config/NAME); repeatable")
	flag.Parse()
	if *plugin == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *plugin, *poll, *cache, settings); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr, plugin string, poll time.Duration, cacheDir string, settings map[string]string) error {
	if name, _, err := net.SplitHostPort(addr); err != nil {
		return err
	} else if ip := net.ParseIP(name); name != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s is not a loopback address", addr)
	}
	h, err := host.New(ctx, Config(os.Stderr, settings).WithCompilationCacheDir(cacheDir))
	if err != nil {
		return err
	}
	defer h.Close(context.Background())
	b, err := os.ReadFile(plugin)
	if err != nil {
		return err
	}
	if _, err := Reload(ctx, h, b); err != nil {
		return err
	}
	handler, err := NewHandler(h)
	if err != nil {
		return err
	}
	go Watch(ctx, h, plugin, b, poll, log.Printf)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(c)
	}()
	log.Printf("serving http://%s with %s", ln.Addr(), plugin)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
