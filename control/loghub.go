package control

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/wasmhot/wasmhot/internal/logbuf"
)

// Hub is the io.Writer a node gives host.Config.WithLog. It echoes each
// guest log line to an output (the node's stdout), keeps the most recent
// lines (at most keep, and 1 MiB), and hands every line to the
// subscribers of the logs endpoint. A slow subscriber never blocks the
// guests: lines it cannot take (past 4,096 lines or 256 KiB queued for it)
// are dropped and it is told how many. Neither does a slow output: it is written from
// a goroutine of its own (internal/logbuf), which drops what does not fit
// in 1 MiB and says so on the output once it moves again.
type Hub struct {
	out  *logbuf.Writer // nil: no echo
	keep int

	mu      sync.Mutex
	partial []byte
	recent  []string // the last keep lines, oldest first
	rBytes  int      // of recent, at most keepBytes
	subs    map[*subscription]struct{}
	closed  bool
}

// subscription queues lines for one follower, bounded in lines and in
// bytes; its goroutine hands them to the follower's channel in order.
type subscription struct {
	out  chan string // unbuffered: what the follower reads
	wake chan struct{}
	done chan struct{} // closed by cancel or Close

	mu      sync.Mutex
	q       []string
	qBytes  int
	dropped int
}

// The bounds of the hub: lines and bytes queued per follower (a follower
// that does not keep up loses lines, and is told how many), and bytes of
// recent lines kept (besides their number, keep).
const (
	subBuffer = 4096
	subBytes  = 256 << 10
	keepBytes = 1 << 20
)

// DefaultKeep is the number of recent lines a Hub keeps by default.
const DefaultKeep = 1000

// NewHub returns a hub echoing to out (nil: no echo) and keeping the last
// keep lines (DefaultKeep when keep <= 0).
func NewHub(out io.Writer, keep int) *Hub {
	if keep <= 0 {
		keep = DefaultKeep
	}
	hub := &Hub{keep: keep, subs: map[*subscription]struct{}{}}
	if out != nil {
		hub.out = logbuf.New(out, 1<<20)
	}
	return hub
}

// Write implements io.Writer. The host writes whole lines, but partial
// writes are joined.
func (h *Hub) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.out != nil {
		_, _ = h.out.Write(p)
	}
	// Whole lines, as the host writes them, are published straight from
	// p (each line's string copies its bytes once); a line cut across
	// writes is joined in partial first.
	rest := p
	if len(h.partial) > 0 || !bytes.HasSuffix(p, []byte{'\n'}) {
		h.partial = append(h.partial, p...)
		rest = h.partial
	}
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		h.publish(string(rest[:i]))
		rest = rest[i+1:]
	}
	if len(h.partial) > 0 {
		h.partial = rest
		if len(rest) == 0 {
			h.partial = nil // let a large buffer go
		}
	}
	return len(p), nil
}

func (h *Hub) publish(line string) {
	n := 0
	for len(h.recent)-n > 0 && (len(h.recent)-n >= h.keep || h.rBytes+len(line) > keepBytes) {
		h.rBytes -= len(h.recent[n])
		n++
	}
	if n > 0 {
		h.recent = append(h.recent[:0], h.recent[n:]...)
	}
	if len(line) <= keepBytes {
		h.recent = append(h.recent, line)
		h.rBytes += len(line)
	}
	for s := range h.subs {
		s.push(line)
	}
}

// push queues line, or drops it when the queue is full; the first line
// queued after a drop is preceded by a notice of how many were lost.
func (s *subscription) push(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var notice string
	if s.dropped > 0 {
		notice = fmt.Sprintf("wasmhot: %d log line(s) dropped: this reader was too slow", s.dropped)
	}
	n := 1
	if notice != "" {
		n = 2
	}
	if len(s.q)+n > subBuffer || s.qBytes+len(notice)+len(line) > subBytes {
		s.dropped++
		return
	}
	if notice != "" {
		s.q = append(s.q, notice)
		s.qBytes += len(notice)
		s.dropped = 0
	}
	s.q = append(s.q, line)
	s.qBytes += len(line)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// forward hands the queued lines to the follower, in order, until the
// subscription ends; then it hands over what is still queued, for a second
// at most, and closes the follower's channel. A line leaves the queue only
// once the follower has it.
func (s *subscription) forward() {
	defer close(s.out)
	var last <-chan time.Time // the subscription ended: the last second
	for {
		s.mu.Lock()
		if len(s.q) == 0 {
			s.mu.Unlock()
			if last != nil {
				return
			}
			select {
			case <-s.wake:
				continue
			case <-s.done:
				last = time.After(time.Second)
				continue
			}
		}
		line := s.q[0]
		s.mu.Unlock()
		select {
		case s.out <- line:
		case <-s.done:
			if last == nil {
				last = time.After(time.Second)
			}
			continue
		case <-last:
			return
		}
		s.mu.Lock()
		s.q[0] = ""
		s.q = s.q[1:]
		s.qBytes -= len(line)
		if len(s.q) == 0 {
			s.q = nil
		}
		s.mu.Unlock()
	}
}

// Recent returns the lines kept, oldest first.
func (h *Hub) Recent() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.recent...)
}

// Subscribe returns the lines kept so far and a channel of every line
// written from now on; the channel is closed by cancel or by Close. Lines
// are neither lost nor repeated between the two.
func (h *Hub) Subscribe() (recent []string, lines <-chan string, cancel func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &subscription{out: make(chan string), wake: make(chan struct{}, 1), done: make(chan struct{})}
	recent = append([]string(nil), h.recent...)
	if h.closed {
		close(s.out)
		return recent, s.out, func() {}
	}
	h.subs[s] = struct{}{}
	go s.forward()
	var once sync.Once
	return recent, s.out, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if _, ok := h.subs[s]; ok {
				delete(h.subs, s)
				close(s.done)
			}
		})
	}
}

// Close ends every subscription and gives the output a second to take the
// lines still queued for it; lines written later are kept, not echoed. It
// is idempotent.
func (h *Hub) Close() {
	if h.out != nil {
		h.out.Close(time.Second)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.done)
	}
}
