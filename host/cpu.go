package host

import "time"

// The guests' CPUs.
//
// Every process is a goroutine, and a guest spinning in Wasm cannot be
// preempted by the Go scheduler until it reaches the host (a host call or
// a fuel tick). With hundreds of busy processes, a goroutine of the host
// (a control request, a Go call, the garbage collector stopping the world)
// would wait behind all of them. So processes run Wasm only while they hold
// one of GOMAXPROCS tokens, as Erlang runs processes on one scheduler per
// core: a process takes a token when it starts and whenever it wakes from
// receive or sleep, gives it up when it blocks, and at each fuel tick
// after yieldEvery it gives it to the longest waiter and queues again
// (FIFO, in the channel's order). The host's own goroutines and Go calls
// take no token: they compete with at most GOMAXPROCS busy processes.
//
// A process waiting for a token can be killed: it exits without running
// again. Only its own goroutine takes and gives its token, so holding is a
// plain field.

// takeCPU waits for a token; false when the process was killed first.
func (p *process) takeCPU() bool {
	select {
	case p.h.cpus <- struct{}{}:
		p.hasCPU = true
		return true
	default:
	}
	select {
	case p.h.cpus <- struct{}{}:
		p.hasCPU = true
		return true
	case <-p.killCh:
		return false
	}
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

// hostYield is the trusted mode's turn taking, at host calls (there are
// no fuel ticks): a process that has held its token for yieldEvery gives
// it up. A trusted guest spinning without host calls keeps its token.
func (p *process) hostYield() {
	if p.h.cfg.mode != Trusted || !p.hasCPU {
		return
	}
	now := time.Now()
	if now.Sub(p.yielded) < yieldEvery {
		return
	}
	if !p.yielded.IsZero() && !p.yieldCPU() {
		exit(p, Killed, nil)
	}
	p.yielded = now
}
