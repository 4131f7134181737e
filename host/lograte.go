package host

import (
	"fmt"
	"sync"
	"time"
)

// The guests' log rate.
//
// A guest log line costs the node what it takes to format, queue and
// write it, and a guest can log in a loop: in a soak, guests logging
// 16 KiB lines as fast as they could made a third of everything the node
// allocated (160 MB/s), and allocation sets the pace of the garbage
// collector, whose cycles every request waits behind. So the node takes
// guest log lines at a bounded rate, as Erlang's logger handlers have a
// burst limit: WithLogRate bytes a second over the node, with a burst of
// one second's worth. Lines past it are dropped before they are
// formatted and counted (Stats.LogLinesDropped), and the next line taken
// is preceded by one saying how many were dropped. The host's own lines
// are not bounded.

// DefaultLogRate is the default bound on guest log lines, in bytes a
// second over the node.
const DefaultLogRate = 4 << 20

// minLogRate is the least bound: a whole line, cut at MaxLogLine, must
// fit one second's burst.
const minLogRate = 64 << 10

type logRate struct {
	rate float64 // bytes a second; 0: no bound (set once, by New)

	mu      sync.Mutex
	tokens  float64
	last    time.Time
	dropped int // since the last line taken
}

func newLogRate(rate int) *logRate {
	return &logRate{rate: float64(rate), tokens: float64(rate), last: time.Now()}
}

// take reports whether a line of n bytes may be logged now and, when it
// may, how many lines were dropped since the last one taken.
func (l *logRate) take(n int) (ok bool, dropped int) {
	if l.rate == 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.tokens = min(l.rate, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	if float64(n) > l.tokens {
		l.dropped++
		return false, 0
	}
	l.tokens -= float64(n)
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}

// notice is the line that says how many guest log lines were dropped.
func (l *logRate) notice(dropped int) []byte {
	return fmt.Appendf(nil, "%d guest log line(s) dropped: over the node's log rate of %d bytes a second", dropped, int(l.rate))
}
