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
// lines, and hands every line to the subscribers of the logs endpoint. A
// slow subscriber never blocks the guests: lines it cannot take are dropped
// and it is told how many. Neither does a slow output: it is written from
// a goroutine of its own (internal/logbuf), which drops what does not fit
// in 1 MiB and says so on the output once it moves again.
type Hub struct {
	out  *logbuf.Writer // nil: no echo
	keep int

	mu      sync.Mutex
	partial []byte
	recent  []string // ring of the last keep lines, oldest first
	subs    map[*subscription]struct{}
	closed  bool
}

type subscription struct {
	ch      chan string
	dropped int
}

// Subscription buffer: lines queued per follower before dropping.
const subBuffer = 4096

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
	h.partial = append(h.partial, p...)
	for {
		i := bytes.IndexByte(h.partial, '\n')
		if i < 0 {
			break
		}
		h.publish(string(h.partial[:i]))
		h.partial = h.partial[i+1:]
	}
	if len(h.partial) == 0 {
		h.partial = nil // let a large buffer go
	}
	return len(p), nil
}

func (h *Hub) publish(line string) {
	if len(h.recent) == h.keep {
		copy(h.recent, h.recent[1:])
		h.recent = h.recent[:h.keep-1]
	}
	h.recent = append(h.recent, line)
	for s := range h.subs {
		if s.dropped > 0 {
			select {
			case s.ch <- fmt.Sprintf("wasmhot: %d log line(s) dropped: this reader was too slow", s.dropped):
				s.dropped = 0
			default:
				s.dropped++
				continue
			}
		}
		select {
		case s.ch <- line:
		default:
			s.dropped++
		}
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
	s := &subscription{ch: make(chan string, subBuffer)}
	recent = append([]string(nil), h.recent...)
	if h.closed {
		close(s.ch)
		return recent, s.ch, func() {}
	}
	h.subs[s] = struct{}{}
	var once sync.Once
	return recent, s.ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if _, ok := h.subs[s]; ok {
				delete(h.subs, s)
				close(s.ch)
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
		close(s.ch)
	}
}
