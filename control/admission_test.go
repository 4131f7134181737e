package control

import (
	"context"
	"testing"

	"github.com/wasmhot/wasmhot/internal/schedtest"
)

// A request that waited for a slot does not run ahead of the goroutines
// already runnable when the slot is given to it: woken by the release, it
// would run next on the releaser's CPU, and a `modules` the network woke
// would wait behind one request after another.
func TestSlotWaiterTakesItsTurn(t *testing.T) {
	schedtest.WaiterTakesItsTurn(t, func() (func() (func(), bool), func()) {
		slots := make(chan struct{}, 1)
		slots <- struct{}{} // held
		wait := func() (func(), bool) {
			release, err := take(context.Background(), slots)
			return release, err == nil
		}
		return wait, func() { <-slots }
	})
}
