package host_test

import (
	"context"
	"testing"

	"github.com/wasmhot/wasmhot/host"
)

func TestSmoke(t *testing.T) {
	lg := newLog()
	h := newHost(t, host.NewConfig().WithLog(lg))
	mustLoad(t, h, "counter", "counter_v1")
	if v := call1(t, h, "counter", "version"); v != 1 {
		t.Fatalf("version %d", v)
	}
	out, err := h.CallBytes(context.Background(), "counter", "echo", []byte("hello"))
	if err != nil || string(out) != "v1:hello" {
		t.Fatalf("echo: %q %v", out, err)
	}
	mustLoad(t, h, "a", "a_loop_v1")
	pid, err := h.Spawn(context.Background(), "a", "run", nil)
	if err != nil {
		t.Fatal(err)
	}
	h.Send(pid, []byte("one"))
	lg.wait(t, 1)
	mustLoad(t, h, "a", "a_loop_v2")
	h.Send(pid, []byte("two"))
	h.Send(pid, []byte("three"))
	h.Send(pid, []byte("stop"))
	e, _ := h.Wait(context.Background(), pid)
	t.Log(lg.text(), e)
}
