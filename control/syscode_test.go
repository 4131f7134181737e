package control

import (
	"strings"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/modules"
)

// TestChangeCode: suspend, change-code and resume through the API; a
// refusal answers refused and changes nothing; errors have their codes.
func TestChangeCode(t *testing.T) {
	s := newTestServer(t, Options{})
	ctx := ctxT(t)
	cl := s.cl
	v1, err := modules.AppendVsnSection(wasm("sys_v1"), "1.0")
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := modules.AppendVsnSection(wasm("sys_v2"), "2.0")
	if _, err := cl.Load(ctx, LoadRequest{Modules: []ModuleSource{{"sys", v1}}}); err != nil {
		t.Fatal(err)
	}
	pid, err := cl.Spawn(ctx, SpawnRequest{Module: "sys", Function: "run"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.ChangeCode(ctx, pid, nil)
	wantCode(t, "change-code of a running process", err, CodeNotSuspended)
	if got, err := cl.Suspend(ctx, pid[:8]); err != nil || got != pid {
		t.Fatalf("suspend = %q, %v", got, err)
	}
	if err := cl.Send(ctx, SendRequest{PID: pid, Message: "incr"}); err != nil {
		t.Fatal(err)
	}
	procs, err := cl.Procs(ctx, false)
	if err != nil || len(procs) != 1 || !procs[0].Suspended || procs[0].VsnTag != "1.0" {
		t.Fatalf("procs: %+v, %v", procs, err)
	}
	if _, err := cl.Load(ctx, LoadRequest{Modules: []ModuleSource{{"sys", v2}}}); err != nil {
		t.Fatal(err)
	}
	_, err = cl.ChangeCode(ctx, pid, []byte("refuse"))
	if e := wantCode(t, "refusing code_change", err, CodeRefused); e != nil && !strings.Contains(e.Message, "refused by v2") {
		t.Errorf("refusal message %q", e.Message)
	}
	res, err := cl.ChangeCodeWithin(ctx, pid, []byte("x"), 10*time.Second)
	if err != nil || res.Vsn != 2 || res.VsnTag != "2.0" || res.PID != pid {
		t.Fatalf("change-code = %+v, %v", res, err)
	}
	if _, err := cl.Resume(ctx, pid); err != nil {
		t.Fatal(err)
	}
	_, err = cl.Suspend(ctx, "00000000-0000-0000-0000-000000000001")
	wantCode(t, "suspend of nobody", err, CodeNoProc)
	_, err = cl.Resume(ctx, "0000")
	wantCode(t, "resume of a prefix nobody has", err, CodeNoProc)
}
