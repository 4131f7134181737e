package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// lockedWriter serialises writes from the demo's narration and from the
// guests' log lines, which the host writes from process goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// guestLine is one guest log line as the host writes it:
// "module vN pid: text".
type guestLine struct {
	module string
	vsn    uint64
	pid    string
	text   string
	raw    string
}

func parseGuestLine(s string) guestLine {
	gl := guestLine{raw: s, text: s}
	head, text, ok := strings.Cut(s, ": ")
	if !ok {
		return gl
	}
	f := strings.Fields(head)
	if len(f) != 3 || !strings.HasPrefix(f[1], "v") {
		return gl
	}
	vsn, err := strconv.ParseUint(f[1][1:], 10, 64)
	if err != nil {
		return gl
	}
	return guestLine{module: f[0], vsn: vsn, pid: f[2], text: text, raw: s}
}

// guestLog is the host's log writer in the demo. It echoes each guest line
// to the demo's output with a visible prefix (unless the process is muted),
// records it, and wakes whoever waits for lines: waiting on what guests say
// is how the demo knows that something happened, never a sleep.
type guestLog struct {
	out io.Writer

	mu      sync.Mutex
	partial []byte
	lines   []guestLine
	pending []guestLine   // lines of processes not named yet
	changed chan struct{} // closed and replaced when lines arrive
	names   map[string]string
	muted   map[string]bool
}

func newGuestLog(out io.Writer) *guestLog {
	return &guestLog{
		out:     out,
		changed: make(chan struct{}),
		names:   map[string]string{},
		muted:   map[string]bool{},
	}
}

// Write implements io.Writer for host.Config.WithLog. A line is echoed
// before waiters can see it, so narration that follows a wait prints after
// the line it waited for.
func (l *guestLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		gl := parseGuestLine(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
		if gl.module != "" && gl.pid != "-" && l.names[gl.pid] == "" {
			// A process that logs before Spawn returned and the demo
			// named it: hold the line until the spawn is narrated.
			l.pending = append(l.pending, gl)
		} else {
			l.echo(gl)
		}
		l.lines = append(l.lines, gl)
		added = true
	}
	if added {
		close(l.changed)
		l.changed = make(chan struct{})
	}
	return len(p), nil
}

func (l *guestLog) echo(gl guestLine) {
	if !l.muted[gl.pid] {
		_, _ = io.WriteString(l.out, "    guest| "+l.format(gl)+"\n")
	}
}

// format shows a line with the pid shortened and named.
func (l *guestLog) format(gl guestLine) string {
	if gl.module == "" {
		return gl.raw
	}
	return fmt.Sprintf("%s v%d %s: %s", gl.module, gl.vsn, l.whoLocked(gl.pid), gl.text)
}

// name gives a pid a name for the demo's output, and shows the lines it
// logged before it had one.
func (l *guestLog) name(pid, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.names[pid] = name
	kept := l.pending[:0]
	for _, gl := range l.pending {
		if gl.pid == pid {
			l.echo(gl)
		} else {
			kept = append(kept, gl)
		}
	}
	l.pending = kept
}

// flush shows the lines still held for processes that were never named.
func (l *guestLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, gl := range l.pending {
		l.echo(gl)
	}
	l.pending = nil
}

// nameOf returns the name given to pid, or "".
func (l *guestLog) nameOf(pid string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.names[pid]
}

// who returns "name(short pid)" for a pid.
func (l *guestLog) who(pid string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.whoLocked(pid)
}

func (l *guestLog) whoLocked(pid string) string { return label(l.names[pid], pid) }

// label returns "name(short pid)", or the short pid alone without a name.
func label(name, pid string) string {
	if len(pid) > 8 {
		pid = pid[:8]
	}
	if name == "" {
		return pid
	}
	return name + "(" + pid + ")"
}

// mute stops (or resumes) echoing the lines of pid; they are still
// recorded and can be waited for.
func (l *guestLog) mute(pid string, muted bool) {
	l.mu.Lock()
	l.muted[pid] = muted
	l.mu.Unlock()
}

// mark returns a position in the lines: waits from a mark see only the
// lines written after it.
func (l *guestLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// await waits until n lines written since from match, or ctx ends.
func (l *guestLog) await(ctx context.Context, from, n int, match func(guestLine) bool) error {
	found := 0
	for {
		l.mu.Lock()
		for ; from < len(l.lines); from++ {
			if match(l.lines[from]) {
				found++
				if found == n {
					l.mu.Unlock()
					return nil
				}
			}
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
