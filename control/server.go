package control

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmhot/wasmhot/cluster"
	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/statedir"
	"github.com/wasmhot/wasmhot/modules"
)

// Options configure a [Server].
type Options struct {
	// Host is the node's runtime. Required.
	Host *host.Host
	// Logs feeds the logs endpoint; nil: the endpoint answers with no lines.
	Logs *Hub
	// State persists loaded code; nil: nothing is persisted.
	State *statedir.Store
	// MaxRequestBytes caps request bodies (default MaxRequestBytes); larger
	// requests are refused with 413 before anything changes.
	MaxRequestBytes int64
	// ErrorLog receives problems that are not a request's fault, such as a
	// state directory that cannot be written (nil: discarded).
	ErrorLog io.Writer
	// MaxConns is the number of connections Serve serves at once on one
	// listener (default MaxConns); IdleTimeout closes a connection that
	// has sent nothing for that long, headers included (default
	// IdleTimeout; ReadHeaderTimeout when shorter).
	MaxConns    int
	IdleTimeout time.Duration
	// MaxBodyBytes bounds the bytes of request bodies read and held at
	// once (default MaxBodyBytesInFlight, raised to MaxRequestBytes if
	// lower), counted as they are read: a request whose reading would
	// pass it fails with 503 busy, and the client may retry. Without it,
	// many concurrent loads of large modules would each hold their body
	// and its decoded bytes until refused or loaded; counting what is
	// read, not what is declared, keeps a slow client from holding a
	// share it does not use (see admission.go).
	MaxBodyBytes int64
	// Gatherer is what GET /metrics serves; nil: a registry of the host's
	// metrics (package metrics) and the Go runtime's and the process's.
	// A program that has its own registry passes it, with
	// metrics.NewCollector(host, nil) registered on it.
	Gatherer prometheus.Gatherer
	// Cluster is the node's membership of a fleet; nil: the node is not
	// in one, and the /v1/cluster endpoints answer no_cluster (cluster.go).
	Cluster *cluster.Node

	testServer **Server // tests: where NewServer's result goes
}

// Server answers the control API for one host. It is safe for concurrent
// use; code changes (load, purge, delete) are serialised.
type Server struct {
	opts Options

	// codeMu serialises code changes and the state directory's updates,
	// so the manifest follows the order of the changes.
	codeMu sync.Mutex
	// synced is the host's Generation when the manifest was last
	// recorded (under codeMu).
	synced uint64

	routes   map[string]route
	admit    *admission   // request bodies and calls in flight
	bodies   *bodyPool    // the buffers of request bodies (body.go)
	promHTTP http.Handler // GET /metrics
}

// class says which slots a route's requests take (admission.go).
type class int

const (
	work  class = iota // a request slot, then a work slot
	call               // a request slot, then a call slot: guest code runs on the request's goroutine
	code               // a request slot only: code changes, which codeMu serialises
	cheap              // none: cheap reads
)

type route struct {
	method string
	handle func(s *Server, w http.ResponseWriter, r *http.Request) (any, error)
	class  class
	// small: the request names things and carries no bytes (a module, a
	// function, a pid, numbers); its body is refused past
	// SmallRequestBytes, before it is read.
	small bool
}

// NewServer returns a server for opts.Host.
func NewServer(opts Options) *Server {
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = MaxRequestBytes
	}
	if opts.ErrorLog == nil {
		opts.ErrorLog = io.Discard
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = MaxBodyBytesInFlight
	}
	opts.MaxBodyBytes = max(opts.MaxBodyBytes, opts.MaxRequestBytes)
	if opts.Gatherer == nil {
		opts.Gatherer = newGatherer(opts.Host)
	}
	s := &Server{opts: opts, admit: newAdmission(opts.MaxBodyBytes), bodies: &bodyPool{}, routes: map[string]route{
		"/v1/load":        {http.MethodPost, (*Server).load, code, false},
		"/v1/soft-purge":  {http.MethodPost, (*Server).softPurge, code, true},
		"/v1/purge":       {http.MethodPost, (*Server).purge, code, true},
		"/v1/delete":      {http.MethodPost, (*Server).delete, code, true},
		"/v1/rollback":    {http.MethodPost, (*Server).rollback, code, true},
		"/v1/modules":     {http.MethodGet, (*Server).modules, cheap, false},
		"/v1/spawn":       {http.MethodPost, (*Server).spawn, work, false},
		"/v1/send":        {http.MethodPost, (*Server).send, work, false},
		"/v1/procs":       {http.MethodGet, (*Server).procs, work, false},
		"/v1/check":       {http.MethodPost, (*Server).check, work, true},
		"/v1/call":        {http.MethodPost, (*Server).call, call, true},
		"/v1/call-bytes":  {http.MethodPost, (*Server).callBytes, call, false},
		"/v1/kill":        {http.MethodPost, (*Server).kill, work, true},
		"/v1/suspend":     {http.MethodPost, (*Server).suspend, work, true},
		"/v1/resume":      {http.MethodPost, (*Server).resume, work, true},
		"/v1/change-code": {http.MethodPost, (*Server).changeCode, work, false},
		"/v1/logs":        {http.MethodGet, (*Server).logs, cheap, false},
		"/metrics":        {http.MethodGet, (*Server).metrics, cheap, false},
		"/healthz":        {http.MethodGet, (*Server).healthz, cheap, false},

		"/v1/cluster/load":       {http.MethodPost, (*Server).clusterLoad, code, false},
		"/v1/cluster/rollback":   {http.MethodPost, (*Server).clusterRollback, code, true},
		"/v1/cluster/delete":     {http.MethodPost, (*Server).clusterDelete, code, true},
		"/v1/cluster/purge":      {http.MethodPost, (*Server).clusterPurge, code, true},
		"/v1/cluster/soft-purge": {http.MethodPost, (*Server).clusterSoftPurge, code, true},
		"/v1/cluster/status":     {http.MethodGet, (*Server).clusterStatus, cheap, false},
	}}
	s.promHTTP = s.newMetricsHandler()
	return s
}

// Handler returns the API as an http.Handler: the /v1 endpoints, GET
// /metrics and GET /healthz. With a non-empty token every
// request must carry "Authorization: Bearer TOKEN" (compared in constant
// time) or is refused with 401; use it on TCP listeners. With an empty
// token there is no check: use it only on a Unix socket of mode 0600.
// A program may mount it on its own http.ServeMux for the paths "/v1/",
// "/metrics" and "/healthz" (paths are not rewritten: [Dial]'s client
// asks for them at the root).
func (s *Server) Handler(token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" && !authorized(r.Header.Get("Authorization"), token) {
			// The connection closes after the answer: a client without
			// the token holds no connection open.
			w.Header().Set("Connection", "close")
			w.Header().Set("WWW-Authenticate", `Bearer realm="wasmhot"`)
			writeError(w, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "missing or wrong bearer token"})
			return
		}
		if r.URL.Path != "/v1/logs" {
			// A client that does not read its answer holds the connection
			// for WriteTimeout at most (the log stream sets its own
			// deadline at each write).
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(WriteTimeout))
		}
		rt, ok := s.routes[r.URL.Path]
		if !ok {
			writeError(w, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf("no endpoint %s", modules.Clip(r.URL.Path))})
			return
		}
		s.dispatch(w, r, rt)
	})
}

// dispatch answers a request of route rt: the method checked, a large
// body's share reserved, the answer (or the error) written as JSON.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, rt route) {
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethod, Message: fmt.Sprintf("%s wants %s, not %s", r.URL.Path, rt.method, r.Method)})
		return
	}
	if r.Method == http.MethodPost {
		limit := s.opts.MaxRequestBytes
		if rt.small {
			limit = min(limit, SmallRequestBytes)
		}
		if r.ContentLength > limit {
			drainRefused(r)
			writeError(w, tooLarge(limit))
			return
		}
		defer s.admit.body(r)()
		// The body is read whole before the request takes a slot: a
		// slow client holds its connection, never a slot.
		if err := s.readBody(w, r, limit); err != nil {
			writeError(w, toError(err))
			return
		}
		defer s.bodies.put(r.Body.(*bodyBytes).b) // once answered
	}
	var slots chan struct{} // the handler's: none for cheap reads and code changes
	switch rt.class {
	case work:
		slots = s.admit.work
	case call:
		slots = s.admit.calls
	}
	if rt.class != cheap {
		release, err := take(r.Context(), s.admit.requests)
		if err != nil {
			writeError(w, toError(err))
			return
		}
		defer release()
	}
	// The answer is encoded in the slot too: a large one (procs of
	// thousands of processes) is work like the handler's.
	res, err := s.admit.run(r.Context(), slots, func() (any, error) { return encoded(rt.handle(s, w, r)) })
	s.answer(w, res, err)
}

// jsonAnswer is an answer encoded as JSON, with its final newline.
type jsonAnswer []byte

// encoded encodes a handler's result (nil stays nil: the handler wrote
// its answer itself).
func encoded(res any, err error) (any, error) {
	if err != nil || res == nil {
		return res, err
	}
	if b, ok := res.(jsonAnswer); ok { // encoded by the handler
		return b, nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	return jsonAnswer(append(b, '\n')), nil
}

// answer writes a handler's result, or its error.
func (s *Server) answer(w http.ResponseWriter, res any, err error) {
	if err != nil {
		writeError(w, toError(err))
		return
	}
	if b, ok := res.(jsonAnswer); ok { // nil: the handler wrote its answer
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}
}

// authorized reports whether the Authorization header carries the token:
// the scheme in any case (RFC 9110 makes it case-insensitive), the token
// compared in constant time.
func authorized(header, token string) bool {
	scheme, cred, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimLeft(cred, " ")), []byte(token)) == 1
}

// The connection limits of Serve.
const (
	// ReadHeaderTimeout bounds the reading of a request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds the reading of a whole request, body included
	// (a load of the largest module over a slow link fits in it).
	ReadTimeout = 2 * time.Minute
	// WriteTimeout bounds the writing of an answer (each write of a log
	// stream).
	WriteTimeout = time.Minute
	// IdleTimeout closes a kept-alive connection that sends nothing.
	IdleTimeout = time.Minute
	// MaxConns is the number of connections one listener serves at once;
	// the next ones wait in the listen backlog until one closes.
	MaxConns = 256
	// MaxBodyBytesInFlight is the default of Options.MaxBodyBytes: twice
	// the default request cap, so two loads of the largest modules proceed
	// at once.
	MaxBodyBytesInFlight = 2 * MaxRequestBytes
)

// Serve answers requests on ln until ctx ends, then shuts down: it stops
// accepting, ends the log streams and waits (up to 5 s) for requests in
// progress. It returns nil after a shutdown caused by ctx. It serves at
// most MaxConns connections at once and bounds each with the timeouts
// above, so that idle or slow clients cannot exhaust the node's file
// descriptors.
func (s *Server) Serve(ctx context.Context, ln net.Listener, token string) error {
	return s.serve(ctx, ln, s.Handler(token))
}

func (s *Server) serve(ctx context.Context, ln net.Listener, handler http.Handler) error {
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	idle, header, conns := IdleTimeout, ReadHeaderTimeout, MaxConns
	if s.opts.IdleTimeout > 0 {
		idle, header = s.opts.IdleTimeout, min(header, s.opts.IdleTimeout)
	}
	if s.opts.MaxConns > 0 {
		conns = s.opts.MaxConns
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: header,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       idle,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	ln = limitListener(ln, conns)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	cancel() // ends log streams and the requests' contexts
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status, e)
}

// decode reads the JSON request body into v: one object, no unknown fields,
// nothing after it, at most MaxRequestBytes.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeBadRequest, Message: fmt.Sprintf("content type %q: want application/json", ct)}
	}
	if r.ContentLength > s.opts.MaxRequestBytes {
		return tooLarge(s.opts.MaxRequestBytes)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.opts.MaxRequestBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON object")
	}
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("data after the JSON object")
		}
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return tooLarge(s.opts.MaxRequestBytes)
	case errors.Is(err, errBusy):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeBusy, Message: errBusy.Error()}
	case errors.Is(err, io.EOF):
		return badRequest("empty request body: want a JSON object")
	case err != nil:
		return badRequest("malformed request: %v", err)
	}
	return nil
}

func tooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: fmt.Sprintf("request body over %d bytes", limit)}
}

// syncState records the code table in the state directory, if any. The
// caller holds codeMu. A failure does not fail the request (the change is
// made); it goes to the error log.
func (s *Server) syncState() {
	if s.opts.State == nil {
		return
	}
	gen := s.opts.Host.Generation()
	if err := s.opts.State.Sync(s.opts.Host.Modules()); err != nil {
		fmt.Fprintf(s.opts.ErrorLog, "wasmhot: %v\n", err)
		return
	}
	s.synced = gen
}

// syncAfter records the code table after a request that may have loaded a
// module from the code path (spawn, call): only when it did (the host's
// generation moved), so that spawns and calls cost nothing more with a
// state directory.
func (s *Server) syncAfter() {
	if s.opts.State == nil {
		return
	}
	s.codeMu.Lock()
	defer s.codeMu.Unlock()
	if s.opts.Host.Generation() == s.synced {
		return
	}
	s.syncState()
}

// mediaType is the media type of r's body, in lower case, without its
// parameters ("" when there is none or it does not parse).
func mediaType(r *http.Request) string {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt
}
