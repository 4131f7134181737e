package host

import (
	"sync"
)

// mailbox is a FIFO of byte messages bounded in messages and in bytes,
// each queued message charged to the node's memory budget. Senders never
// block: a full mailbox refuses the message and keeps what it has.
type mailbox struct {
	mu       sync.Mutex
	q        [][]byte
	head     int
	limit    int // messages
	maxBytes int
	bytes    int           // of the messages queued
	notify   chan struct{} // holds a token while messages may be waiting
	mem      *budget
	closed   bool // the process exited: nothing more is queued
}

func newMailbox(limit, maxBytes int, mem *budget) *mailbox {
	return &mailbox{limit: limit, maxBytes: maxBytes, mem: mem, notify: make(chan struct{}, 1)}
}

// putResult is the outcome of put.
type putResult int

const (
	putOK     putResult = iota
	putFull             // the mailbox's own bounds
	putBudget           // the node's memory budget
	putClosed           // the process exited
)

func msgCost(msg []byte) int64 { return int64(len(msg)) + messageCost }

// put appends msg (which the mailbox now owns).
func (m *mailbox) put(msg []byte) putResult {
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return putClosed
	case len(m.q)-m.head >= m.limit || m.bytes+len(msg) > m.maxBytes:
		m.mu.Unlock()
		return putFull
	case !m.mem.charge(msgCost(msg)):
		m.mu.Unlock()
		return putBudget
	}
	m.q = append(m.q, msg)
	m.bytes += len(msg)
	m.mu.Unlock()
	select {
	case m.notify <- struct{}{}:
	default:
	}
	return putOK
}

// close drops the queued messages, giving their bytes back to the budget,
// and refuses any more.
func (m *mailbox) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for _, msg := range m.q[m.head:] {
		m.mem.release(msgCost(msg))
	}
	m.q, m.head, m.bytes = nil, 0, 0
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
	m.mem.release(msgCost(msg))
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
