package host

import (
	"sync"
)

// mailbox is a FIFO of byte messages bounded in messages and in bytes.
// Senders never block: a full mailbox refuses the message and keeps what
// it has.
type mailbox struct {
	mu       sync.Mutex
	q        [][]byte
	head     int
	limit    int // messages
	maxBytes int
	bytes    int           // of the messages queued
	notify   chan struct{} // holds a token while messages may be waiting
}

func newMailbox(limit, maxBytes int) *mailbox {
	return &mailbox{limit: limit, maxBytes: maxBytes, notify: make(chan struct{}, 1)}
}

// put appends msg (which the mailbox now owns); false when full.
func (m *mailbox) put(msg []byte) bool {
	m.mu.Lock()
	if len(m.q)-m.head >= m.limit || m.bytes+len(msg) > m.maxBytes {
		m.mu.Unlock()
		return false
	}
	m.q = append(m.q, msg)
	m.bytes += len(msg)
	m.mu.Unlock()
	select {
	case m.notify <- struct{}{}:
	default:
	}
	return true
}

// take removes the first message when its length is at most max, and
// returns its length either way; ok is false when the mailbox is empty.
func (m *mailbox) take(max int) (msg []byte, n int, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.head == len(m.q) {
		return nil, 0, false
	}
	msg = m.q[m.head]
	if len(msg) > max {
		return nil, len(msg), true
	}
	m.q[m.head] = nil
	m.head++
	m.bytes -= len(msg)
	if m.head == len(m.q) {
		m.q, m.head = m.q[:0], 0
	} else if m.head > 1024 && m.head*2 > len(m.q) {
		m.q = append(m.q[:0], m.q[m.head:]...)
		m.head = 0
	}
	return msg, len(msg), true
}

func (m *mailbox) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.q) - m.head
}
