package host

import (
	"testing"

	"github.com/wasmhot/wasmhot/internal/schedtest"
)

// A process that waited for a CPU token does not run ahead of the
// goroutines already runnable when the token is handed to it (the same
// rule as TestSlotWaiterTakesItsTurn's for request slots).
func TestCPUWaiterTakesItsTurn(t *testing.T) {
	schedtest.WaiterTakesItsTurn(t, func() (func() (func(), bool), func()) {
		h := &Host{cpus: make(chan struct{}, 1)}
		h.cpus <- struct{}{} // held
		p := &process{h: h, killCh: make(chan struct{})}
		wait := func() (func(), bool) {
			if !p.takeCPU() {
				return nil, false
			}
			return p.dropCPU, true
		}
		return wait, func() { <-h.cpus }
	})
}
