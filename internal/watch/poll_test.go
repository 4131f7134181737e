package watch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func write(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	// Explicit mtimes: the test does not depend on the clock's resolution.
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func names(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name+"="+string(c.Wasm))
	}
	return out
}

func TestPoller(t *testing.T) {
	dir, code := t.TempDir(), t.TempDir()
	t0 := time.Unix(1_000_000, 0)
	a, b, c := filepath.Join(dir, "a.wasm"), filepath.Join(dir, "b.wasm"), filepath.Join(code, "c.wasm")
	write(t, a, "a1", t0)
	write(t, filepath.Join(dir, "notes.txt"), "x", t0)
	write(t, c, "c1", t0)
	p := New([]string{dir}, []string{code})
	primed := p.Prime()
	if len(primed) != 2 || primed[0].Name != "a" || !primed[0].Explicit || primed[1].Name != "c" || primed[1].Explicit {
		t.Fatalf("Prime: %+v", primed)
	}
	if cs := p.Scan(); len(cs) != 0 {
		t.Errorf("nothing changed, Scan = %v", names(cs))
	}

	// A change is reported once it is stable for one scan.
	write(t, a, "a2", t0.Add(time.Second))
	write(t, b, "b1", t0)
	if cs := p.Scan(); len(cs) != 0 {
		t.Errorf("first scan after a change = %v, want nothing yet", names(cs))
	}
	cs := p.Scan()
	if got := names(cs); len(got) != 2 || got[0] != "a=a2" || got[1] != "b=b1" {
		t.Errorf("second scan = %v", got)
	}
	if cs := p.Scan(); len(cs) != 0 {
		t.Errorf("reported twice: %v", names(cs))
	}

	// Same content with a new mtime is no change; a code path file is.
	write(t, a, "a2", t0.Add(2*time.Second))
	write(t, c, "c2", t0.Add(time.Second))
	p.Scan()
	cs = p.Scan()
	if got := names(cs); len(got) != 1 || got[0] != "c=c2" || cs[0].Explicit {
		t.Errorf("scan = %v", got)
	}

	// A file still being written (its stat moves every scan) waits.
	for i := 0; i < 3; i++ {
		write(t, b, "b-partial", t0.Add(time.Duration(10+i)*time.Second))
		if cs := p.Scan(); len(cs) != 0 {
			t.Errorf("unstable file reported: %v", names(cs))
		}
	}
	if got := names(p.Scan()); len(got) != 1 || got[0] != "b=b-partial" {
		t.Errorf("stable again: %v", got)
	}

	// Removed then restored with the same content: nothing to load.
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	p.Scan()
	write(t, a, "a2", t0.Add(time.Minute))
	p.Scan()
	if cs := p.Scan(); len(cs) != 0 {
		t.Errorf("restored file reported: %v", names(cs))
	}
}

func TestPollerFileAndRun(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "prog") // an explicit file needs no .wasm suffix
	write(t, f, "v1", time.Unix(1_000_000, 0))
	p := New([]string{f, f}, nil)
	if got := p.Prime(); len(got) != 1 || got[0].Name != "prog" {
		t.Fatalf("Prime: %+v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan []Change, 1)
	go p.Run(ctx, time.Millisecond, func(cs []Change) {
		select {
		case got <- cs:
		default:
		}
	})
	write(t, f, "v2", time.Unix(1_000_001, 0))
	select {
	case cs := <-got:
		if names(cs)[0] != "prog=v2" {
			t.Errorf("Run reported %v", names(cs))
		}
	case <-ctx.Done():
		t.Fatal("Run reported nothing")
	}
}
