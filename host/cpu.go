package host

import (
	"runtime"
	"time"
)

// The guests' CPUs.
//
// Every process is a goroutine, and a guest spinning in Wasm cannot be
// preempted by the Go scheduler until it reaches the host (a host call or
// a fuel tick). With hundreds of busy processes, a goroutine of the host
// (a control request, a Go call, the garbage collector stopping the world)
// would wait behind all of them. So processes run Wasm only while they hold
// one of GOMAXPROCS tokens, as Erlang runs processes on one scheduler per
// core: a process takes a token when it starts and whenever it wakes from
// receive or sleep, gives it up when it blocks, and at the first fuel
// tick or host call yieldEvery after taking it, it lets the goroutines
// waiting for a CPU run (hostYield), gives the token to the longest waiter
// and queues again (FIFO, in the channel's order). The host's own
// goroutines and Go calls take no token: they compete with at most
// GOMAXPROCS busy processes, each of which gives its CPU up every
// yieldEvery.
//
// A process waiting for a token can be killed: it exits without running
// again. Only its own goroutine takes and gives its token, so holding is a
// plain field.

// takeCPU waits for a token; false when the process was killed first.
func (p *process) takeCPU() bool {
	select {
	case p.h.cpus <- struct{}{}:
	default:
		select {
		case p.h.cpus <- struct{}{}:
			// Woken by the process that gave the token up, this one
			// would run next on that CPU, ahead of the goroutines
			// already runnable (the control API's among them); it
			// takes its turn behind them instead.
			runtime.Gosched()
		case <-p.killCh:
			return false
		}
	}
	p.hasCPU = true
	p.yielded = time.Now()
	return true
}

// dropCPU gives the token back, if the process holds one.
func (p *process) dropCPU() {
	if p.hasCPU {
		p.hasCPU = false
		<-p.h.cpus
	}
}

// yieldCPU lets the longest waiting process run; false when the process
// was killed while it waited for its turn again.
func (p *process) yieldCPU() bool {
	p.dropCPU()
	return p.takeCPU()
}

// hostYield is the turn taking at host calls and fuel ticks: a process
// that has run for yieldEvery since it last yielded gives up its
// goroutine's CPU (runtime.Gosched) and then its token. Yielding the
// goroutine first matters: handing the token on readies the next process
// in the Go scheduler's next slot on this CPU, so that processes would
// follow one another there for the scheduler's whole 10 ms slice while the
// goroutines the network woke (the control API's) wait behind them. A
// sandboxed guest ticks at least once per fuel slice, but one that spends
// its time in host calls (logging or sending in a loop) uses little fuel
// between them, hence the check at host calls too. A trusted guest
// spinning without host calls keeps its CPU.
func (p *process) hostYield() {
	if !p.hasCPU {
		return
	}
	if time.Since(p.yielded) < yieldEvery {
		return
	}
	runtime.Gosched()
	if !p.yieldCPU() {
		exit(p, Killed, nil)
	}
}
