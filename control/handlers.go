package control

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/modules"
)

func (s *Server) load(w http.ResponseWriter, r *http.Request) (any, error) {
	var req LoadRequest
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	if len(req.Modules) == 0 {
		return nil, badRequest("load: no modules")
	}
	seen := map[string]bool{}
	srcs := make([]host.Source, len(req.Modules))
	for i, m := range req.Modules {
		if err := modules.CheckName(m.Name); err != nil {
			return nil, err
		}
		if seen[m.Name] {
			return nil, badRequest("load: module %s given twice", m.Name)
		}
		seen[m.Name] = true
		if len(m.Wasm) == 0 {
			return nil, badRequest("load: module %s: no bytes", m.Name)
		}
		srcs[i] = host.Source{Name: m.Name, Wasm: m.Wasm, Sticky: req.Sticky}
	}
	s.codeMu.Lock()
	defer s.codeMu.Unlock()
	if s.opts.State != nil {
		// Before the load: a node that crashes right after it must find
		// the bytes its manifest may name.
		for _, src := range srcs {
			if _, err := s.opts.State.Put(src.Wasm); err != nil {
				return nil, err
			}
		}
	}
	killed, err := Load(r.Context(), s.opts.Host, srcs, req.Purge)
	s.syncState() // a purge may have happened even if the load failed
	if err != nil {
		return nil, err
	}
	res := LoadResponse{Modules: make([]Module, 0, len(srcs)), Killed: killed}
	for _, src := range srcs {
		mi, err := s.opts.Host.Which(src.Name)
		if err != nil {
			return nil, err
		}
		res.Modules = append(res.Modules, moduleJSON(mi))
	}
	return res, nil
}

// moduleArg decodes a ModuleRequest and checks the name.
func (s *Server) moduleArg(w http.ResponseWriter, r *http.Request) (string, error) {
	var req ModuleRequest
	if err := s.decode(w, r, &req); err != nil {
		return "", err
	}
	return req.Module, modules.CheckName(req.Module)
}

func (s *Server) softPurge(w http.ResponseWriter, r *http.Request) (any, error) {
	name, err := s.moduleArg(w, r)
	if err != nil {
		return nil, err
	}
	s.codeMu.Lock()
	defer s.codeMu.Unlock()
	ok, err := s.opts.Host.SoftPurge(r.Context(), name)
	s.syncState()
	return BoolResponse{Result: ok}, err
}

func (s *Server) purge(w http.ResponseWriter, r *http.Request) (any, error) {
	name, err := s.moduleArg(w, r)
	if err != nil {
		return nil, err
	}
	s.codeMu.Lock()
	defer s.codeMu.Unlock()
	res, err := s.opts.Host.Purge(r.Context(), name)
	s.syncState()
	if err != nil {
		return nil, err
	}
	return PurgeResponse{Result: res.KilledAny(), Killed: res.Killed, Interrupted: res.Interrupted, Waited: res.Waited}, nil
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) (any, error) {
	name, err := s.moduleArg(w, r)
	if err != nil {
		return nil, err
	}
	s.codeMu.Lock()
	defer s.codeMu.Unlock()
	ok, err := s.opts.Host.Delete(r.Context(), name)
	s.syncState()
	if err != nil {
		return nil, err
	}
	return BoolResponse{Result: ok}, nil
}

func (s *Server) modules(w http.ResponseWriter, r *http.Request) (any, error) {
	all := s.opts.Host.Modules()
	res := ModulesResponse{Modules: make([]Module, len(all))}
	for i, mi := range all {
		res.Modules[i] = moduleJSON(mi)
	}
	return res, nil
}

// bytesArg returns text or b64, refusing both at once.
func bytesArg(what, text string, b64 []byte) ([]byte, error) {
	if text != "" && len(b64) > 0 {
		return nil, badRequest("give %s or %s_base64, not both", what, what)
	}
	if len(b64) > 0 {
		return b64, nil
	}
	return []byte(text), nil
}

func (s *Server) spawn(w http.ResponseWriter, r *http.Request) (any, error) {
	var req SpawnRequest
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	if err := modules.CheckName(req.Module); err != nil {
		return nil, err
	}
	if req.Function == "" {
		return nil, badRequest("spawn: no function")
	}
	state, err := bytesArg("state", req.State, req.StateBase64)
	if err != nil {
		return nil, err
	}
	pid, err := s.opts.Host.Spawn(r.Context(), req.Module, req.Function, state)
	s.syncAfter()
	if err != nil {
		return nil, err
	}
	return SpawnResponse{PID: pid.String()}, nil
}

func parsePID(s string) (host.PID, error) {
	pid, err := uuid.Parse(s)
	if err != nil {
		return pid, badRequest("bad pid %q: want a uuid", s)
	}
	return pid, nil
}

func (s *Server) send(w http.ResponseWriter, r *http.Request) (any, error) {
	var req SendRequest
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	pid, err := parsePID(req.PID)
	if err != nil {
		return nil, err
	}
	msg, err := bytesArg("message", req.Message, req.MessageBase64)
	if err != nil {
		return nil, err
	}
	if err := s.opts.Host.Send(pid, msg); err != nil {
		return nil, err
	}
	return OKResponse{OK: true}, nil
}

func (s *Server) procs(w http.ResponseWriter, r *http.Request) (any, error) {
	all, err := boolQuery(r, "all")
	if err != nil {
		return nil, err
	}
	res := ProcsResponse{Processes: []Process{}}
	for _, p := range s.opts.Host.Processes() {
		if all || p.Status != host.Exited {
			res.Processes = append(res.Processes, processJSON(p))
		}
	}
	return res, nil
}

func boolQuery(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("query %s=%q: want true or false", name, v)
	}
	return b, nil
}

func (s *Server) check(w http.ResponseWriter, r *http.Request) (any, error) {
	var req CheckRequest
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	pid, err := parsePID(req.PID)
	if err != nil {
		return nil, err
	}
	ok, err := s.opts.Host.CheckProcessCode(pid, req.Module)
	if err != nil {
		return nil, err
	}
	return BoolResponse{Result: ok}, nil
}

func (s *Server) call(w http.ResponseWriter, r *http.Request) (any, error) {
	var req CallRequest
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	if err := modules.CheckName(req.Module); err != nil {
		return nil, err
	}
	if req.Function == "" {
		return nil, badRequest("call: no function")
	}
	timeout := DefaultCallTimeout
	if req.TimeoutMs != 0 {
		timeout = time.Duration(req.TimeoutMs) * time.Millisecond
		if req.TimeoutMs < 0 || timeout > MaxCallTimeout {
			return nil, badRequest("call: timeout_ms %d: want 1..%d", req.TimeoutMs, MaxCallTimeout.Milliseconds())
		}
	}
	// The answer may come after WriteTimeout: the write deadline follows.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout + WriteTimeout))
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	res, err := callNumbers(ctx, s.opts.Host, req)
	s.syncAfter()
	return res, err
}

// logs writes the kept guest log lines, then with follow=true every new
// line as it comes, until the client goes away or the server stops.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) (any, error) {
	follow, err := boolQuery(r, "follow")
	if err != nil {
		return nil, err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if s.opts.Logs == nil {
		w.WriteHeader(http.StatusOK)
		return nil, nil
	}
	recent, lines, cancel := s.opts.Logs.Subscribe()
	defer cancel()
	// A follow stream outlives the server's ReadTimeout: the read deadline
	// goes (the client sends nothing more), and each write has its own.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	deadline := func() { _ = rc.SetWriteDeadline(time.Now().Add(WriteTimeout)) }
	deadline()
	bw := bufio.NewWriter(w)
	for _, l := range recent {
		_, _ = bw.WriteString(l + "\n")
	}
	if err := bw.Flush(); err != nil || !follow {
		return nil, nil
	}
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return nil, nil
			}
			deadline()
			_, _ = bw.WriteString(l + "\n")
			// Batch what is already queued into one write.
			for n := len(lines); n > 0; n-- {
				if l, ok = <-lines; ok {
					_, _ = bw.WriteString(l + "\n")
				}
			}
			if err := bw.Flush(); err != nil {
				return nil, nil
			}
			if flusher != nil {
				flusher.Flush()
			}
		case <-r.Context().Done():
			return nil, nil
		}
	}
}
