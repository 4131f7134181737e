package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/modules"
)

func (s *Server) load(w http.ResponseWriter, r *http.Request) (any, error) {
	var req LoadRequest
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	srcs, err := sources("load", req.Modules, req.Sticky)
	if err != nil {
		return nil, err
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

// sources checks the modules of a load request (what: "load", "cluster
// load"): at least one, each with a module name and bytes, no name twice.
func sources(what string, mods []ModuleSource, sticky bool) ([]host.Source, error) {
	if len(mods) == 0 {
		return nil, badRequest("%s: no modules", what)
	}
	seen := map[string]bool{}
	srcs := make([]host.Source, len(mods))
	for i, m := range mods {
		if err := modules.CheckName(m.Name); err != nil {
			return nil, err
		}
		if seen[m.Name] {
			return nil, badRequest("%s: module %s given twice", what, m.Name)
		}
		seen[m.Name] = true
		if len(m.Wasm) == 0 {
			return nil, badRequest("%s: module %s: no bytes", what, m.Name)
		}
		srcs[i] = host.Source{Name: m.Name, Wasm: m.Wasm, Sticky: sticky}
	}
	return srcs, nil
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
	unknown := s.unknownModule(name)
	ok, err := s.opts.Host.SoftPurge(r.Context(), name)
	s.syncState()
	return BoolResponse{Result: ok, UnknownModule: unknown}, err
}

// unknownModule reports whether the host has no module name: neither
// current nor old code.
func (s *Server) unknownModule(name string) bool {
	_, err := s.opts.Host.Which(name)
	return errors.Is(err, host.ErrNotLoaded)
}

func (s *Server) purge(w http.ResponseWriter, r *http.Request) (any, error) {
	name, err := s.moduleArg(w, r)
	if err != nil {
		return nil, err
	}
	s.codeMu.Lock()
	defer s.codeMu.Unlock()
	unknown := s.unknownModule(name)
	res, err := s.opts.Host.Purge(r.Context(), name)
	s.syncState()
	if err != nil {
		return nil, err
	}
	return PurgeResponse{Result: res.KilledAny(), Killed: res.Killed, Interrupted: res.Interrupted, Waited: res.Waited, UnknownModule: unknown}, nil
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) (any, error) {
	name, err := s.moduleArg(w, r)
	if err != nil {
		return nil, err
	}
	s.codeMu.Lock()
	defer s.codeMu.Unlock()
	unknown := s.unknownModule(name)
	ok, err := s.opts.Host.Delete(r.Context(), name)
	s.syncState()
	if err != nil {
		return nil, err
	}
	return BoolResponse{Result: ok, UnknownModule: unknown}, nil
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

func (s *Server) send(w http.ResponseWriter, r *http.Request) (any, error) {
	var req SendRequest
	var msg []byte
	if raw, ok := r.Body.(*bodyBytes); ok && mediaType(r) == "application/octet-stream" {
		// The message is the body; the pid is in the query.
		q := r.URL.Query()
		if len(q["pid"]) != 1 || len(q) != 1 {
			return nil, badRequest("a send with an application/octet-stream body (the message) wants the pid as its one query parameter: /v1/send?pid=PID")
		}
		req.PID, msg = q.Get("pid"), raw.b
	} else {
		if err := s.decode(w, r, &req); err != nil {
			return nil, err
		}
		var err error
		if msg, err = bytesArg("message", req.Message, req.MessageBase64); err != nil {
			return nil, err
		}
	}
	pid, err := s.resolvePID(req.PID)
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
	if pids := r.URL.Query()["pid"]; len(pids) > 0 {
		// Those processes, exited or not, in the order asked.
		procs := make([]Process, 0, len(pids))
		for _, arg := range pids {
			pid, err := s.resolvePID(arg)
			if err != nil {
				return nil, err
			}
			p, err := s.opts.Host.Process(pid)
			if err != nil {
				return nil, err
			}
			procs = append(procs, processJSON(p))
		}
		return procsAnswer(procs), nil
	}
	ps := s.opts.Host.Processes()
	procs := make([]Process, 0, len(ps))
	for _, p := range ps {
		if all || p.Status != host.Exited {
			procs = append(procs, processJSON(p))
		}
	}
	return procsAnswer(procs), nil
}

func (s *Server) kill(w http.ResponseWriter, r *http.Request) (any, error) {
	var req KillRequest
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	pid, err := s.resolvePID(req.PID)
	if err != nil {
		return nil, err
	}
	p, err := s.opts.Host.Process(pid)
	if err != nil {
		return nil, err
	}
	if p.Exit != nil {
		return nil, &Error{Status: http.StatusNotFound, Code: CodeNoProc,
			Message: fmt.Sprintf("process %s exited already: %s", pid, exitWords(p.Exit))}
	}
	if err := s.opts.Host.Kill(pid); err != nil {
		return nil, err
	}
	return KillResponse{PID: pid.String()}, nil
}

// exitWords says how a process ended: its reason, and its error if any.
func exitWords(e *host.Exit) string {
	if e.Err != nil {
		return string(e.Reason) + ": " + e.Err.Error()
	}
	return string(e.Reason)
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
	if err := modules.CheckName(req.Module); err != nil {
		return nil, err
	}
	pid, err := s.resolvePID(req.PID)
	if err != nil {
		return nil, err
	}
	unknown := s.unknownModule(req.Module)
	ok, err := s.opts.Host.CheckProcessCode(pid, req.Module)
	if err != nil {
		return nil, err
	}
	return BoolResponse{Result: ok, UnknownModule: unknown}, nil
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
	ctx, cancel, err := callContext(w, r, req.TimeoutMs)
	if err != nil {
		return nil, err
	}
	defer cancel()
	res, err := callNumbers(ctx, s.opts.Host, req)
	s.syncAfter()
	return res, err
}

// callContext is the context of a call through the API: bounded by
// timeoutMs (0: DefaultCallTimeout; at most MaxCallTimeout), with the
// answer's write deadline moved past it.
func callContext(w http.ResponseWriter, r *http.Request, timeoutMs int64) (context.Context, context.CancelFunc, error) {
	timeout := DefaultCallTimeout
	if timeoutMs != 0 {
		timeout = time.Duration(timeoutMs) * time.Millisecond
		if timeoutMs < 0 || timeout > MaxCallTimeout {
			return nil, nil, badRequest("call: timeout_ms %d: want 1..%d", timeoutMs, MaxCallTimeout.Milliseconds())
		}
	}
	// The answer may come after WriteTimeout: the write deadline follows.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout + WriteTimeout))
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	return ctx, cancel, nil
}

func (s *Server) callBytes(w http.ResponseWriter, r *http.Request) (any, error) {
	var req CallBytesRequest
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	if err := modules.CheckName(req.Module); err != nil {
		return nil, err
	}
	if req.Function == "" {
		return nil, badRequest("call: no function")
	}
	in, err := bytesArg("input", req.Input, req.InputBase64)
	if err != nil {
		return nil, err
	}
	ctx, cancel, err := callContext(w, r, req.TimeoutMs)
	if err != nil {
		return nil, err
	}
	defer cancel()
	out, err := s.opts.Host.CallBytes(ctx, req.Module, req.Function, in)
	s.syncAfter()
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []byte{}
	}
	return CallBytesResponse{Output: out}, nil
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
