package control

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestHub(t *testing.T) {
	var echo bytes.Buffer
	h := NewHub(&echo, 3)
	_, _ = h.Write([]byte("a\nb\n"))
	recent, lines, cancel := h.Subscribe()
	if !slices.Equal(recent, []string{"a", "b"}) {
		t.Errorf("recent = %q", recent)
	}
	_, _ = h.Write([]byte("c\nd"))
	_, _ = h.Write([]byte("\n"))
	if got := []string{<-lines, <-lines}; !slices.Equal(got, []string{"c", "d"}) {
		t.Errorf("followed %q", got)
	}
	if got := h.Recent(); !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Errorf("kept %q, want the last 3", got)
	}
	cancel()
	cancel()
	if _, ok := <-lines; ok {
		t.Error("channel open after cancel")
	}
	_, lines2, _ := h.Subscribe()
	h.Close()
	h.Close()
	if _, ok := <-lines2; ok {
		t.Error("channel open after Close")
	}
	// The echo is written by its own goroutine, done once Close returns.
	if echo.String() != "a\nb\nc\nd\n" {
		t.Errorf("echo %q", echo.String())
	}
	_, lines3, _ := h.Subscribe()
	if _, ok := <-lines3; ok {
		t.Error("subscription after Close is open")
	}
}

// A reader that does not keep up loses lines, is told so, and never
// blocks the writer.
func TestHubSlowReader(t *testing.T) {
	h := NewHub(nil, 0)
	_, lines, cancel := h.Subscribe()
	defer cancel()
	for i := 0; i < subBuffer+10; i++ {
		_, _ = fmt.Fprintf(h, "line %d\n", i)
	}
	for i := 0; i < subBuffer; i++ {
		<-lines
	}
	_, _ = h.Write([]byte("after\n"))
	if l := <-lines; !strings.Contains(l, "10 log line(s) dropped") {
		t.Errorf("got %q, want a drop notice", l)
	}
	if l := <-lines; l != "after" {
		t.Errorf("got %q after the notice", l)
	}
}

// The hub's memory is bounded in bytes: large lines push out the recent
// ones past 1 MiB, and a follower that does not read holds 256 KiB at most.
func TestHubBytes(t *testing.T) {
	h := NewHub(nil, 0)
	defer h.Close()
	_, lines, cancel := h.Subscribe()
	defer cancel()
	big := strings.Repeat("x", 100<<10)
	for i := range 30 {
		_, _ = fmt.Fprintf(h, "%d%s\n", i, big)
	}
	recent := h.Recent()
	total := 0
	for _, l := range recent {
		total += len(l)
	}
	if total > keepBytes || len(recent) < 9 || !strings.HasPrefix(recent[len(recent)-1], "29") {
		t.Errorf("recent: %d lines of %d bytes, last %.3q; want the last ones within %d bytes", len(recent), total, recent[len(recent)-1], keepBytes)
	}
	var got []string
	for range 2 {
		got = append(got, (<-lines)[:2])
	}
	_, _ = h.Write([]byte("after\n"))
	for l := range lines {
		if len(l) > 100<<10 {
			l = l[:2]
		}
		got = append(got, l)
		if l == "after" {
			break
		}
	}
	// 0 and 1 were queued (256 KiB), 28 more were dropped, then the notice
	// and the next line.
	want := []string{"0x", "1x", "wasmhot: 28 log line(s) dropped: this reader was too slow", "after"}
	if !slices.Equal(got, want) {
		t.Errorf("follower got %q, want %q", got, want)
	}
}
