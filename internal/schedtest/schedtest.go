// Package schedtest checks, in tests, the order in which the Go scheduler
// runs goroutines that wait for a resource the node hands over: request
// slots (control) and CPU tokens (host).
package schedtest

import (
	"runtime"
	"testing"
)

// Rounds is how many hand-overs WaiterTakesItsTurn watches.
const Rounds = 200

// WaiterTakesItsTurn checks that a goroutine that waited for a resource
// does not run ahead of the goroutines already runnable when the resource
// is handed to it: on one CPU, the goroutine runnable first runs first.
// The scheduler looks at its global queue first one time in 61 and, under
// the race detector, picks at random, so the check counts rounds and
// wants three in four; without a yield after the wait, the waiter ran
// first in every round (and in about half under the race detector).
//
// newRound sets up one round with the resource held. wait, run by the
// waiter, blocks until it has the resource (ok false: it failed) and
// returns how to give it back; handOver is the holder's release.
func WaiterTakesItsTurn(t *testing.T, newRound func() (wait func() (giveBack func(), ok bool), handOver func())) {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	inTurn, failed := 0, 0
	for range Rounds {
		wait, handOver := newRound()
		order := make(chan string, 2)
		go func() {
			giveBack, ok := wait()
			if !ok {
				order <- "failed"
				return
			}
			order <- "waiter"
			giveBack()
		}()
		for range 3 { // the waiter runs and blocks in wait
			runtime.Gosched()
		}
		go func() { order <- "runnable" }()
		handOver()
		switch first, second := <-order, <-order; {
		case first == "failed" || second == "failed":
			failed++
		case first == "runnable" && second == "waiter":
			inTurn++
		}
	}
	if failed > 0 {
		t.Fatalf("the waiter failed to get the resource in %d of %d rounds", failed, Rounds)
	}
	if inTurn < Rounds*3/4 {
		t.Fatalf("the goroutine runnable before the hand-over ran first in %d of %d rounds; the waiter ran ahead of it in the others", inTurn, Rounds)
	}
}
