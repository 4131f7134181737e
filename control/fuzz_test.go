package control

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/host"
)

// FuzzRequest: whatever a client sends — method, path, body, token — the
// server answers with a status and, for an error, a JSON error; it never
// panics, and a refused request changes nothing that was loaded.
func FuzzRequest(f *testing.F) {
	paths := []string{"/v1/load", "/v1/soft-purge", "/v1/purge", "/v1/delete", "/v1/modules",
		"/v1/spawn", "/v1/send", "/v1/procs?all=true", "/v1/check", "/v1/call", "/v1/logs", "/v1/nope", "/"}
	v1 := base64.StdEncoding.EncodeToString(guestexamples.Wasm("a_loop_v1"))
	for i, body := range []string{
		`{"modules":[{"name":"b","wasm":"` + v1 + `"}]}`,
		`{"modules":[{"name":"../x","wasm":"` + v1 + `"}]}`,
		`{"modules":[{"name":"a","wasm":"AAAA"}],"purge":true}`,
		`{"module":"a"}`, `{"module":"A"}`, `{"module":"a","function":"run"}`,
		`{"module":"counter","function":"add","args":["1","2"]}`,
		`{"pid":"not-a-uuid","text":"x"}`, `{"pid":"00000000-0000-0000-0000-000000000000","module":"a"}`,
		`{`, `[]`, `null`, `{"module":"a","extra":1}`, `{"module":"a"} {"module":"a"}`, "\x00\xff",
	} {
		f.Add(uint8(i), uint8(i%2), []byte(body), i%3 == 0)
	}
	const token = "0123456789abcdef-fuzz"
	ctx := context.Background()
	// counter:spin runs for years: calls and start functions are bounded so
	// that one execution ends well within a second on a loaded machine.
	h, err := host.New(ctx, host.NewConfig().WithLog(nil).WithMaxProcesses(200).
		WithStartTimeout(50*time.Millisecond).WithCallTimeout(200*time.Millisecond))
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close(ctx)
	for _, m := range [][2]string{{"a", "a_loop_v1"}, {"counter", "counter_v1"}} {
		if _, err := h.Load(ctx, m[0], guestexamples.Wasm(m[1])); err != nil {
			f.Fatal(err)
		}
	}
	handler := NewServer(Options{Host: h, MaxRequestBytes: 1 << 20}).Handler(token)
	snapshot := func() map[string]string {
		s := map[string]string{}
		for _, m := range h.Modules() {
			var cur, old string
			if m.Current != nil {
				cur = m.Current.UUID
			}
			if m.Old != nil {
				old = m.Old.UUID
			}
			s[m.Name] = fmt.Sprintf("%s/%s/%v", cur, old, m.Sticky)
		}
		return s
	}
	f.Fuzz(func(t *testing.T, pathIdx, methodIdx uint8, body []byte, auth bool) {
		path := paths[int(pathIdx)%len(paths)]
		method := []string{http.MethodPost, http.MethodGet, http.MethodPut}[int(methodIdx)%3]
		rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		req := httptest.NewRequest(method, path, bytes.NewReader(body)).WithContext(rctx)
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		before := snapshot()
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		code := rec.Code
		if code < 200 || code >= 600 {
			t.Fatalf("%s %s: status %d", method, path, code)
		}
		if !auth && code != http.StatusUnauthorized {
			t.Fatalf("%s %s without a token: status %d, want 401", method, path, code)
		}
		if code >= 400 {
			var e struct {
				Error string `json:"error"`
				Code  string `json:"code"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" || e.Code == "" {
				t.Fatalf("%s %s: status %d with body %q: not a JSON error", method, path, code, rec.Body.String())
			}
			if after := snapshot(); !reflect.DeepEqual(before, after) {
				t.Fatalf("refused %s %s (%d) changed the code table: %v -> %v", method, path, code, before, after)
			}
		}
	})
}
