package host

import (
	"runtime"
	"testing"
)

// A process that waited for a CPU token does not run ahead of the
// goroutines already runnable when the token is handed to it (see
// TestSlotWaiterTakesItsTurn in the control package, the same rule for
// request slots): on one CPU, the goroutine runnable first runs first, in
// nearly every round (the scheduler looks at its global queue first one
// time in 61, and the race detector picks at random).
func TestCPUWaiterTakesItsTurn(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const rounds = 200
	inTurn := 0
	for range rounds {
		h := &Host{cpus: make(chan struct{}, 1)}
		h.cpus <- struct{}{} // held
		p := &process{h: h, killCh: make(chan struct{})}
		order := make(chan string, 2)
		go func() {
			if !p.takeCPU() {
				order <- "killed"
				return
			}
			order <- "waiter"
			p.dropCPU()
		}()
		for range 3 { // the process runs and blocks in takeCPU
			runtime.Gosched()
		}
		go func() { order <- "runnable" }()
		<-h.cpus // the token given up
		if first, second := <-order, <-order; first == "runnable" && second == "waiter" {
			inTurn++
		}
	}
	if inTurn < rounds*3/4 {
		t.Fatalf("the goroutine runnable before the token was given up ran first in %d of %d rounds; the waiting process ran ahead of it in the others", inTurn, rounds)
	}
}
