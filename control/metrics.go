package control

import (
	"context"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/metrics"
)

// HealthResponse is the answer of GET /healthz while the node is open
// (200). Once its host is closing the answer is 503 with an [Error] of
// code CodeClosed and "status": "closing".
type HealthResponse struct {
	Status    string `json:"status"`    // "ok"
	Modules   int    `json:"modules"`   // module names with current or old code
	Processes int    `json:"processes"` // live processes
}

// healthClosing is the body of a 503 from /healthz: an Error that also
// says the status.
type healthClosing struct {
	Status string `json:"status"`
	Error
}

// newGatherer is the registry of a server whose Options name none: the
// host's metrics, and the Go runtime's and the process's.
func newGatherer(h *host.Host) prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		metrics.NewCollector(h, nil),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

func (s *Server) newMetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{
		ErrorLog:      log.New(s.opts.ErrorLog, "wasmhot: metrics: ", 0),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// metrics answers GET /metrics: the Prometheus text format (or another
// format the scraper asks for).
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) (any, error) {
	s.promHTTP.ServeHTTP(w, r)
	return nil, nil
}

// healthz answers GET /healthz: 200 and a HealthResponse while the host
// is open, 503 once it is closing.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) (any, error) {
	h := s.opts.Host
	if h.Closed() {
		writeJSON(w, http.StatusServiceUnavailable, healthClosing{Status: "closing",
			Error: Error{Status: http.StatusServiceUnavailable, Code: CodeClosed, Message: "the node is closing"}})
		return nil, nil
	}
	st := h.Stats()
	return HealthResponse{Status: "ok", Modules: st.Modules, Processes: st.Processes[host.Running] + st.Processes[host.Suspended]}, nil
}

// MetricsHandler returns a handler of GET /metrics and GET /healthz alone,
// without authentication, for a listener that a monitoring system
// reaches (wasmhot serve --metrics): neither endpoint changes anything or
// shows more than counts. Every other path is answered 404. The full API
// serves both endpoints too, behind its token ([Server.Handler]).
func (s *Server) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(WriteTimeout))
		if r.URL.Path != "/metrics" && r.URL.Path != "/healthz" {
			writeError(w, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "this listener serves only /metrics and /healthz"})
			return
		}
		s.dispatch(w, r, s.routes[r.URL.Path])
	})
}

// ServeMetrics answers GET /metrics and GET /healthz on ln
// ([Server.MetricsHandler]), without authentication, until ctx ends; the
// connection limits and shutdown are those of [Server.Serve].
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, s.MetricsHandler())
}

// Health asks the node whether it is up: the answer of GET /healthz, or
// an *Error of code CodeClosed when the node is closing.
func (c *Client) Health(ctx context.Context) (HealthResponse, error) {
	var res HealthResponse
	err := c.do(ctx, http.MethodGet, "/healthz", nil, &res)
	return res, err
}
