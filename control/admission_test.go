package control

import (
	"context"
	"runtime"
	"testing"
)

// A request that waited for a slot does not run ahead of the goroutines
// already runnable when the slot is given to it: woken by the release, it
// would run next on the releaser's CPU, and a `modules` the network woke
// would wait behind one request after another. On one CPU, the goroutine
// that was runnable first runs first. The scheduler looks at its global
// queue first one time in 61 (and, under the race detector, picks at
// random), so the test counts rounds: without the yield, the waiter ran
// first in every round.
func TestSlotWaiterTakesItsTurn(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const rounds = 200
	inTurn := 0
	for range rounds {
		slots := make(chan struct{}, 1)
		slots <- struct{}{} // held
		order := make(chan string, 2)
		go func() {
			release, err := take(context.Background(), slots)
			if err != nil {
				t.Error(err)
				order <- "error"
				return
			}
			order <- "waiter"
			release()
		}()
		for range 3 { // the waiter runs and blocks in take
			runtime.Gosched()
		}
		go func() { order <- "runnable" }()
		<-slots // the release
		if first, second := <-order, <-order; first == "runnable" && second == "waiter" {
			inTurn++
		}
	}
	if inTurn < rounds*3/4 {
		t.Fatalf("the goroutine runnable before the release ran first in %d of %d rounds; the slot's waiter ran ahead of it in the others", inTurn, rounds)
	}
}
