package host_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/internal/testmode"
)

// TestHammerReload: four callers call counter:version without pause and
// without ever yielding, on two cores (GOMAXPROCS=2), while another
// goroutine reloads counter (purge + load) 1,000 times (100 unless
// WASMHOT_LONG=1). No call may fail,
// and since every load answers a larger number, no caller may ever see a
// number go down, and no call that starts after a reload returned may see
// an older version. (The reload latency under this load is measured by
// the Storm benchmark of wasmhot bench.)
func TestHammerReload(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, mode := range []host.Mode{host.Sandboxed, host.Trusted} {
		t.Run(mode.String(), func(t *testing.T) {
			hammerReload(t, mode)
		})
	}
}

func hammerReload(t *testing.T, mode host.Mode) {
	ctx := context.Background()
	h := newHost(t, host.NewConfig().WithMode(mode).WithLog(nil))
	reloads := testmode.Rounds(100, 1000)
	const callers = 4
	versions := make([][]byte, reloads+1)
	for i := range versions {
		versions[i] = counterVsn(t, uint32(i+1))
	}
	if _, err := h.Load(ctx, "counter", versions[0]); err != nil {
		t.Fatal(err)
	}
	f, err := h.Func("counter", "version")
	if err != nil {
		t.Fatal(err)
	}
	var published atomic.Uint32 // the version the last finished reload made current
	published.Store(1)
	var stop atomic.Bool
	var calls, failures atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, callers)
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint32
			for !stop.Load() {
				floor := published.Load()
				res, err := f.Call(ctx)
				calls.Add(1)
				if err != nil {
					failures.Add(1)
					errc <- err
					return
				}
				v := uint32(res[0])
				if v < last || v < floor {
					errc <- errors.New("went back in versions")
					t.Errorf("call saw v%d after v%d (published before the call: v%d)", v, last, floor)
					return
				}
				last = v
			}
		}()
	}
	for i := 1; i <= reloads; i++ {
		if _, _, err := h.Reload(ctx, "counter", versions[i]); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		published.Store(uint32(i + 1))
	}
	time.Sleep(10 * time.Millisecond) // let callers run on the last version
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Errorf("call failed: %v", err)
	}
	if failures.Load() != 0 {
		t.Fatalf("%d of %d calls failed", failures.Load(), calls.Load())
	}
	if v := call1(t, h, "counter", "version"); v != uint64(reloads)+1 {
		t.Fatalf("final version %d, want %d", v, reloads+1)
	}
	t.Logf("%s: %d calls during %d reloads, none failed", mode, calls.Load(), reloads)
}

// TestPurgeDuringLongCall: a call in flight on the old version when purge
// runs either fails with ErrPurged (sandboxed: purge interrupts it) or
// completes with the right answer and purge reports that it waited
// (trusted). It never hangs or returns a wrong answer.
func TestPurgeDuringLongCall(t *testing.T) {
	ctx := context.Background()
	t.Run("sandboxed interrupts", func(t *testing.T) {
		h := newHost(t, host.NewConfig().WithPurgeGrace(10*time.Millisecond).WithLog(nil))
		mustLoad(t, h, "counter", "counter_v1")
		done := make(chan error, 1)
		go func() {
			_, err := h.Call(ctx, "counter", "spin", 1<<62) // years
			done <- err
		}()
		waitInFlight(t, h, "counter")
		mustLoad(t, h, "counter", "counter_v2")
		res, err := h.Purge(ctx, "counter")
		if err != nil {
			t.Fatal(err)
		}
		if res.Interrupted != 1 || res.Waited != 0 {
			t.Errorf("purge result %+v, want 1 interrupted", res)
		}
		select {
		case err := <-done:
			if !errors.Is(err, host.ErrPurged) {
				t.Fatalf("long call: %v, want ErrPurged", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("long call not stopped by purge")
		}
		if m, _ := h.Which("counter"); m.Old != nil {
			t.Errorf("old code still there: %+v", m.Old)
		}
	})
	t.Run("trusted waits", func(t *testing.T) {
		h := newHost(t, host.NewConfig().WithMode(host.Trusted).WithLog(nil))
		mustLoad(t, h, "counter", "counter_v1")
		const n = 1000 // ms in a host sleep: trusted mode cannot stop it
		done := make(chan []uint64, 1)
		errc := make(chan error, 1)
		go func() {
			res, err := h.Call(ctx, "counter", "nap", n)
			errc <- err
			done <- res
		}()
		waitInFlight(t, h, "counter")
		mustLoad(t, h, "counter", "counter_v2")
		res, err := h.Purge(ctx, "counter")
		if err != nil {
			t.Fatal(err)
		}
		if res.Waited != 1 || res.Interrupted != 0 {
			t.Errorf("purge result %+v, want 1 waited", res)
		}
		if err := <-errc; err != nil {
			t.Fatalf("long call: %v", err)
		}
		if got := <-done; got[0] != n {
			t.Fatalf("long call returned %d, want %d", got[0], n)
		}
	})
}

// waitInFlight waits until a call runs in the current version of module.
func waitInFlight(t *testing.T, h *host.Host, module string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m, err := h.Which(module); err == nil && m.Current != nil && m.Current.InFlight > 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no call in flight in %s", module)
}
