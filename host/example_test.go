package host_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/host"
)

// Load a module, call it, replace its code, call it again, purge the old code.
func Example() {
	ctx := context.Background()
	h, err := host.New(ctx, host.NewConfig())
	if err != nil {
		panic(err)
	}
	defer h.Close(ctx)

	v1, _ := h.Load(ctx, "counter", guestexamples.Wasm("counter_v1"))
	res, _ := h.Call(ctx, "counter", "version")
	fmt.Println("vsn", v1.Vsn, "answers", res[0])

	// The next call of counter:version lands in the new code.
	v2, _ := h.Load(ctx, "counter", guestexamples.Wasm("counter_v2"))
	res, _ = h.Call(ctx, "counter", "version")
	fmt.Println("vsn", v2.Vsn, "answers", res[0])

	// A third version is refused while the first is still old code...
	_, err = h.Load(ctx, "counter", guestexamples.Wasm("counter_v3"))
	fmt.Println(err)

	// ...until it is purged.
	purged, _ := h.Purge(ctx, "counter")
	fmt.Println("purge killed anyone:", purged.KilledAny())
	out, _ := h.CallBytes(ctx, "counter", "echo", []byte("hello"))
	fmt.Println(string(out))
	// Output:
	// vsn 1 answers 1
	// vsn 2 answers 2
	// module[counter]: modules: not purged
	// purge killed anyone: false
	// v2:hello
}

// lines is a log writer that hands each guest line to a channel.
type lines chan string

func (l lines) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSuffix(string(p), "\n"), "\n") {
		l <- line[strings.Index(line, ": ")+2:] // drop "module vN pid: "
	}
	return len(p), nil
}

// A process keeps running across a reload and moves to the new code at its
// upgrade point, the continue("run") at the end of each message.
func ExampleHost_Spawn() {
	ctx := context.Background()
	log := make(lines, 16)
	h, _ := host.New(ctx, host.NewConfig().WithLog(log))
	defer h.Close(ctx)

	h.Load(ctx, "a", guestexamples.Wasm("a_loop_v1"))
	pid, _ := h.Spawn(ctx, "a", "run", nil)
	h.Send(pid, []byte("one"))
	fmt.Println(<-log)

	// The process logs before it reaches its upgrade point; once it waits
	// for its next message, it does so in v1's receive.
	for pi, _ := h.Process(pid); pi.Status != host.Suspended; pi, _ = h.Process(pid) {
		time.Sleep(time.Millisecond)
	}
	h.Load(ctx, "a", guestexamples.Wasm("a_loop_v2"))
	h.Send(pid, []byte("two")) // handled by that v1 code, then continue("run")
	fmt.Println(<-log)
	h.Send(pid, []byte("three")) // v2 from here on
	fmt.Println(<-log)
	h.Send(pid, []byte("stop"))
	fmt.Println(<-log)

	exit, _ := h.Wait(ctx, pid)
	fmt.Println("exit:", exit)
	// Output:
	// v1 got one
	// v1 got two
	// v2 got three
	// v2 got stop
	// exit: normal
}

// A process that loops locally lingers in old code; purge kills it.
func ExampleHost_Purge() {
	ctx := context.Background()
	h, _ := host.New(ctx, host.NewConfig().WithLog(nil))
	defer h.Close(ctx)

	h.Load(ctx, "a", guestexamples.Wasm("a_loop_v1"))
	pid, _ := h.Spawn(ctx, "a", "run_local", nil)
	h.Load(ctx, "a", guestexamples.Wasm("a_loop_v2"))

	lingers, _ := h.CheckProcessCode(pid, "a")
	soft, _ := h.SoftPurge(ctx, "a")
	fmt.Println("lingers:", lingers, "soft purge:", soft)

	res, _ := h.Purge(ctx, "a")
	exit, _ := h.Wait(ctx, pid)
	fmt.Println("purge:", res.KilledAny(), "exit:", exit)
	// Output:
	// lingers: true soft purge: false
	// purge: true exit: killed
}

// Guests call the program that embeds them through host functions: here
// env.get, which the guest imports as (import "env" "get" (func (param
// i32 i32) (result i64))): a key in its memory in, the value out, in
// memory the host gets from the guest's alloc. They belong to the
// program: a reload of the guest keeps them.
func ExampleConfig_WithHostFunctions() {
	ctx := context.Background()
	settings := map[string]string{"greeting": "hello from the host"}
	get := host.NewHostFunc("get", func(ctx context.Context, c host.Caller, key string) (string, error) {
		v, ok := settings[key]
		if !ok { // ends the guest call, with the reason trap
			return "", fmt.Errorf("%s asked for %q: no such setting", c.Module(), key)
		}
		return v, nil
	})
	h, err := host.New(ctx, host.NewConfig().WithHostFunctions("env", get))
	if err != nil {
		panic(err)
	}
	defer h.Close(ctx)

	h.Load(ctx, "kv", guestexamples.Wasm("hostkv"))
	out, _ := h.CallBytes(ctx, "kv", "lookup", []byte("greeting"))
	fmt.Println(string(out))
	_, err = h.CallBytes(ctx, "kv", "lookup", []byte("nope"))
	fmt.Println(errors.Is(err, host.ErrHostFunc), strings.Contains(err.Error(), `kv asked for "nope": no such setting`))

	// A guest module cannot take the name of the host functions' module.
	_, err = h.Load(ctx, "env", guestexamples.Wasm("hostkv"))
	fmt.Println(errors.Is(err, host.ErrBadName))
	// Output:
	// hello from the host
	// true true
	// true
}
