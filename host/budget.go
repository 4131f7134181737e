package host

import (
	"context"
	"sync/atomic"
	"time"
)

// budget bounds the wall-clock time a process may run Wasm without calling
// the host (Config.WithProcessBudget). It is the Done channel of the
// process's context: wazero's sandboxed mode closes the running instance
// when it fires. Every host call restarts the clock; receive and sleep stop
// it while they wait.
type budget struct {
	context.Context
	d     time.Duration
	done  chan struct{}
	fired atomic.Bool
	timer *time.Timer
}

func newBudget(parent context.Context, d time.Duration) *budget {
	b := &budget{Context: parent, d: d, done: make(chan struct{})}
	b.timer = time.AfterFunc(d, func() {
		if b.fired.CompareAndSwap(false, true) {
			close(b.done)
		}
	})
	return b
}

func (b *budget) Done() <-chan struct{} { return b.done }

func (b *budget) Err() error {
	if b.fired.Load() {
		return context.DeadlineExceeded
	}
	return nil
}

// restart begins a new period: the guest called the host.
func (b *budget) restart() { b.timer.Reset(b.d) }

// pause stops the clock while the process waits in the host.
func (b *budget) pause() { b.timer.Stop() }

// stop releases the timer when the process ends.
func (b *budget) stop() { b.timer.Stop() }
