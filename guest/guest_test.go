//go:build !wasip1

package guest

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeHost is the ABI of one process, in memory, with the host's semantics
// for buffers that are too small.
type fakeHost struct {
	mbox     [][]byte
	timeouts []int32
	receives int
	st       []byte
	contFn   string
	logs     []string
	slept    []int32

	spawnRet int64
	sendRet  int32
	callOut  []byte
	callRet  int32 // returned instead of len(callOut) when non-zero
	calls    int
	gotCall  []string
}

func (f *fakeHost) self() int64 { return 7 }
func (f *fakeHost) spawn(mod, fn string, arg []byte) int64 {
	f.gotCall = []string{mod, fn, string(arg)}
	return f.spawnRet
}
func (f *fakeHost) send(pid int64, msg []byte) int32 { return f.sendRet }
func (f *fakeHost) receive(buf []byte, timeoutMS int32) int32 {
	f.receives++
	f.timeouts = append(f.timeouts, timeoutMS)
	if len(f.mbox) == 0 {
		return -1
	}
	m := f.mbox[0]
	if len(m) <= len(buf) {
		copy(buf, m)
		f.mbox = f.mbox[1:]
	}
	return int32(len(m))
}
func (f *fakeHost) sleep(ms int32) { f.slept = append(f.slept, ms) }
func (f *fakeHost) state(buf []byte) int32 {
	if len(f.st) <= len(buf) {
		copy(buf, f.st)
	}
	return int32(len(f.st))
}
func (f *fakeHost) setState(st []byte) { f.st = append([]byte(nil), st...) }
func (f *fakeHost) cont(fn string)     { f.contFn = fn }
func (f *fakeHost) callBytes(mod, fn string, in, out []byte) int32 {
	f.calls++
	f.gotCall = []string{mod, fn, string(in)}
	if f.callRet != 0 {
		return f.callRet
	}
	if len(f.callOut) <= len(out) {
		copy(out, f.callOut)
	}
	return int32(len(f.callOut))
}
func (f *fakeHost) log(line []byte) { f.logs = append(f.logs, string(line)) }

func fake(t *testing.T) *fakeHost {
	f := &fakeHost{}
	abiHost = f
	recvBuf, callBuf = nil, nil
	t.Cleanup(func() { abiHost = nil })
	return f
}

func TestTimeoutMS(t *testing.T) {
	for d, want := range map[time.Duration]int32{
		Forever:                 -1,
		-time.Hour:              -1,
		0:                       0,
		time.Nanosecond:         1,
		1500 * time.Microsecond: 2,
		time.Second:             1000,
		1000 * time.Hour:        math.MaxInt32,
	} {
		if got := timeoutMS(d); got != want {
			t.Errorf("timeoutMS(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestReceiveGrowsBuffer(t *testing.T) {
	f := fake(t)
	big := bytes.Repeat([]byte("x"), 10_000) // over the 4 KiB default buffer
	f.mbox = [][]byte{[]byte("small"), big, {}}
	if m, err := Receive(Forever); err != nil || string(m) != "small" {
		t.Fatalf("first: %q, %v", m, err)
	}
	m, err := Receive(time.Second)
	if err != nil || !bytes.Equal(m, big) {
		t.Fatalf("big message: %d bytes, %v", len(m), err)
	}
	if f.receives != 3 {
		t.Errorf("%d receive calls, want 3 (one retry with a larger buffer)", f.receives)
	}
	if m, err := Receive(0); err != nil || m == nil || len(m) != 0 {
		t.Fatalf("empty message: %q (nil %v), %v", m, m == nil, err)
	}
	if _, err := Receive(0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("empty mailbox: %v, want timeout", err)
	}
	if want := []int32{-1, 1000, 1000, 0, 0}; !reflect.DeepEqual(f.timeouts, want) {
		t.Errorf("timeouts %v, want %v", f.timeouts, want)
	}
}

func TestReceiveInto(t *testing.T) {
	f := fake(t)
	f.mbox = [][]byte{[]byte("0123456789")}
	buf := make([]byte, 4)
	n, err := ReceiveInto(buf, 0)
	if n != 10 || !errors.Is(err, ErrShortBuffer) || len(f.mbox) != 1 {
		t.Fatalf("short buffer: %d, %v, %d queued", n, err, len(f.mbox))
	}
	buf = make([]byte, n)
	if n, err := ReceiveInto(buf, 0); n != 10 || err != nil || string(buf) != "0123456789" {
		t.Fatalf("second try: %d, %v, %q", n, err, buf)
	}
	if _, err := ReceiveInto(buf, 0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("empty: %v", err)
	}
}

func TestState(t *testing.T) {
	f := fake(t)
	if st := State(); len(st) != 0 {
		t.Fatalf("empty state %q", st)
	}
	big := strings.Repeat("s", 1000) // over State's first buffer
	SetState([]byte(big))
	if st := State(); string(st) != big {
		t.Fatalf("state of %d bytes, want %d", len(st), len(big))
	}
	Continue("loop")
	if f.contFn != "loop" {
		t.Fatalf("continue %q", f.contFn)
	}
}

func TestErrors(t *testing.T) {
	f := fake(t)
	for ret, want := range map[int64]error{42: nil, -1: ErrUndef, -2: ErrLimit, -3: ErrBadArgument} {
		f.spawnRet = ret
		pid, err := Spawn("m", "run", []byte("st"))
		if err != want || (err == nil && pid != 42) {
			t.Errorf("spawn returning %d: %d, %v", ret, pid, err)
		}
	}
	if !reflect.DeepEqual(f.gotCall, []string{"m", "run", "st"}) {
		t.Errorf("spawn got %q", f.gotCall)
	}
	for ret, want := range map[int32]error{0: nil, -1: ErrNoProcess, -2: ErrMailboxFull, -3: ErrBadArgument} {
		f.sendRet = ret
		if err := Send(1, []byte("m")); err != want {
			t.Errorf("send returning %d: %v", ret, err)
		}
	}
	for ret, want := range map[int32]error{-1: ErrUndef, -2: ErrBadArity, -3: ErrBadArgument} {
		f.callRet = ret
		if _, err := CallBytes("m", "f", nil); err != want {
			t.Errorf("call_bytes returning %d: %v", ret, err)
		}
	}
	if Self() != 7 {
		t.Error("self")
	}
}

func TestCallBytes(t *testing.T) {
	f := fake(t)
	f.callOut = []byte("result")
	out, err := CallBytes("m", "f", []byte("in"))
	if err != nil || string(out) != "result" || f.calls != 1 {
		t.Fatalf("%q, %v, %d calls", out, err, f.calls)
	}
	if !reflect.DeepEqual(f.gotCall, []string{"m", "f", "in"}) {
		t.Errorf("call got %q", f.gotCall)
	}
	// A result over the buffer: the function is called again with room.
	f.callOut = bytes.Repeat([]byte("r"), defaultCallBuf+1)
	out, err = CallBytes("m", "f", nil)
	if err != nil || !bytes.Equal(out, f.callOut) || f.calls != 3 {
		t.Fatalf("large result: %d bytes, %v, %d calls", len(out), err, f.calls)
	}
	small := make([]byte, 3)
	if n, err := CallBytesInto("m", "f", nil, small); n != len(f.callOut) || !errors.Is(err, ErrShortBuffer) || f.calls != 4 {
		t.Fatalf("CallBytesInto: %d, %v, %d calls", n, err, f.calls)
	}
}

func TestLog(t *testing.T) {
	f := fake(t)
	Log("one")
	Log("two\nthree\n")
	Log("")
	if want := []string{"one", "two", "three", ""}; !reflect.DeepEqual(f.logs, want) {
		t.Fatalf("logs %q, want %q", f.logs, want)
	}
}

func TestSleep(t *testing.T) {
	f := fake(t)
	Sleep(0)
	Sleep(-time.Second)
	Sleep(time.Microsecond)
	Sleep(2 * time.Second)
	if want := []int32{1, 2000}; !reflect.DeepEqual(f.slept, want) {
		t.Fatalf("slept %v, want %v", f.slept, want)
	}
}

func TestBytesConvention(t *testing.T) {
	p := allocBuf(5)
	b, ok := pinned[p]
	if !ok || len(b) != 5 {
		t.Fatalf("alloc(5): pinned %v, %d bytes", ok, len(b))
	}
	copy(b, "hello") // what the host does
	got := HandleBytes(p, 5, func(in []byte) []byte { return bytes.ToUpper(in) })
	if _, still := pinned[p]; still {
		t.Error("input still pinned after the call")
	}
	if n := uint32(got); n != 5 || string(result) != "HELLO" || uint32(got>>32) != addr(result) {
		t.Fatalf("result %#x, kept %q", got, result)
	}
	if Bytes(nil) != 0 {
		t.Error("empty result is not 0")
	}
	z := allocBuf(0)
	if in := Input(z, 0); len(in) != 0 {
		t.Errorf("empty input %q", in)
	}
}

func TestNotGuest(t *testing.T) {
	abiHost = nil
	defer func() {
		if r := recover(); r != ErrNotGuest {
			t.Fatalf("recovered %v, want ErrNotGuest", r)
		}
	}()
	Self()
}
