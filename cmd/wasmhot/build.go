package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// The rebuild loop of `run --watch --build CMD` and `watch --build CMD`.
//
// The sources are the --build-watch paths (by default the directory of
// each watched .wasm file, or each watched directory). A file counts
// whatever its name; a directory counts for the source files under it,
// recursively: files with a source extension (sourceExts) or name
// (sourceNames), so that logs, outputs and other files a build or a run
// writes beside the sources do not start builds. A path with a glob
// character (* ? [) is a pattern of filepath.Glob: the files it matches
// count, the directories as above. Hidden files and directories
// (.git...), editor leftovers (*~, *.swp, *.tmp, #...#) and the watched
// .wasm files themselves (the build's output) are never sources.
// The sources are polled at the same interval as the .wasm files, by size
// and modification time; when a change has been stable for one interval,
// CMD runs in a shell (sh -c CMD), from the current directory. A build
// that succeeds lets the watch load what it wrote; one that fails prints
// its output and exit status on stderr and its output files are not
// loaded: the code running stays. After each build the sources are
// measured again, so files the build writes among them do not start
// another one.

// buildFlags are the flags of the commands that can rebuild (run, watch).
func buildFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "build", Usage: "run the shell command `CMD` first, and again whenever a source changes (with --watch); what it writes is reloaded, a failed build changes nothing"},
		&cli.StringSliceFlag{Name: "build-watch", Usage: "the sources of --build: a file, a directory (its source files, recursively: .go .c .h .wat .rs .zig .ts Makefile...) or a glob `PATH` (repeatable; default: the directory of each watched .wasm file, or each watched directory)"},
	}
}

// maxSourceFiles is the number of source files past which the builder
// warns that polling them costs.
const maxSourceFiles = 20000

// maxBuildOutput is how much of a build's output is kept to show (its
// end).
const maxBuildOutput = 64 << 10

type stamp struct {
	size  int64
	mtime time.Time
}

// builder runs a build command when its sources change.
type builder struct {
	cmd     string
	sources []string        // --build-watch paths
	outputs map[string]bool // cleaned paths of the watched .wasm files
	outDirs map[string]bool // watched directories: their *.wasm are outputs
	stderr  io.Writer

	snap    map[string]stamp
	pending bool
	warned  bool
}

// newBuilder returns the builder of cmd over the sources (none: the
// directories of the watched paths). A source path that does not exist
// (and is not a pattern) is an error.
func newBuilder(cmd string, sources, watched []string, stderr io.Writer) (*builder, error) {
	b := &builder{cmd: cmd, outputs: map[string]bool{}, outDirs: map[string]bool{}, stderr: stderr}
	dirs := map[string]bool{}
	for _, w := range watched {
		w = filepath.Clean(w)
		if fi, err := os.Stat(w); err == nil && fi.IsDir() {
			b.outDirs[w] = true
			dirs[w] = true
			continue
		}
		b.outputs[w] = true
		dirs[filepath.Dir(w)] = true
	}
	if len(sources) == 0 {
		for d := range dirs {
			sources = append(sources, d)
		}
		sort.Strings(sources)
	}
	for _, s := range sources {
		if isPattern(s) {
			if _, err := filepath.Glob(s); err != nil {
				return nil, fmt.Errorf("--build-watch %q: %w", s, err)
			}
			continue
		}
		if _, err := os.Stat(s); err != nil {
			return nil, fmt.Errorf("--build-watch: %w", err)
		}
	}
	b.sources = sources
	b.snap = b.measure()
	return b, nil
}

func isPattern(p string) bool { return strings.ContainsAny(p, "*?[") }

// isOutput reports whether path is a watched .wasm file.
func (b *builder) isOutput(path string) bool {
	path = filepath.Clean(path)
	return b.outputs[path] || (b.outDirs[filepath.Dir(path)] && strings.HasSuffix(path, ".wasm"))
}

// sourceExts are the extensions of the files of a watched directory that
// are sources: Go, C and C++, WAT, Rust, Zig, AssemblyScript, build files.
var sourceExts = map[string]bool{
	".go": true, ".mod": true, ".sum": true, ".s": true,
	".c": true, ".h": true, ".cc": true, ".cpp": true, ".cxx": true, ".hh": true, ".hpp": true, ".hxx": true,
	".wat": true, ".wast": true, ".in": true,
	".rs": true, ".toml": true, ".zig": true, ".zon": true, ".ts": true,
	".mk": true, ".cmake": true, ".sh": true,
}

// sourceNames are the names of files without such an extension that are
// sources.
var sourceNames = map[string]bool{"Makefile": true, "makefile": true, "GNUmakefile": true, "CMakeLists.txt": true}

// isSource reports whether a file found in a watched directory is a source.
func isSource(name string) bool {
	return sourceExts[strings.ToLower(filepath.Ext(name))] || sourceNames[name]
}

// ignored reports whether a file or directory name is no source.
func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") || strings.HasSuffix(name, ".swp") ||
		strings.HasSuffix(name, ".tmp") || (strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"))
}

// measure stats every source file now.
func (b *builder) measure() map[string]stamp {
	out := map[string]stamp{}
	add := func(root string) {
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if path != root && ignored(d.Name()) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || b.isOutput(path) || !d.Type().IsRegular() || (path != root && !isSource(d.Name())) {
				return nil
			}
			if fi, err := d.Info(); err == nil {
				out[path] = stamp{fi.Size(), fi.ModTime()}
			}
			return nil
		})
	}
	for _, s := range b.sources {
		if !isPattern(s) {
			add(s)
			continue
		}
		matches, _ := filepath.Glob(s)
		for _, m := range matches {
			add(m)
		}
	}
	if len(out) > maxSourceFiles && !b.warned {
		b.warned = true
		fmt.Fprintf(b.stderr, "wasmhot: --build watches %d source files in %s; name fewer with --build-watch\n", len(out), strings.Join(b.sources, ", "))
	}
	return out
}

// changed polls the sources: it reports true once a change has stayed
// the same for one poll (a save of several files, or a file still being
// written, is one change).
func (b *builder) changed() bool {
	now := b.measure()
	if !sameStamps(now, b.snap) {
		b.snap, b.pending = now, true
		return false
	}
	if b.pending {
		b.pending = false
		return true
	}
	return false
}

func sameStamps(a, b map[string]stamp) bool {
	if len(a) != len(b) {
		return false
	}
	for p, s := range a {
		if t, ok := b[p]; !ok || t.size != s.size || !t.mtime.Equal(s.mtime) {
			return false
		}
	}
	return true
}

// build runs the command and reports whether it succeeded; a failure
// prints its output. Then the sources are measured again.
func (b *builder) build(ctx context.Context) bool {
	defer func() { b.snap, b.pending = b.measure(), false }()
	fmt.Fprintf(b.stderr, "wasmhot: building: %s\n", b.cmd)
	out, err := runShell(ctx, b.cmd)
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		fmt.Fprintf(b.stderr, "wasmhot: build failed (%v); the running code stays:\n", err)
		if len(out) > 0 {
			_, _ = b.stderr.Write(out)
			if out[len(out)-1] != '\n' {
				fmt.Fprintln(b.stderr)
			}
		}
		return false
	}
	fmt.Fprintln(b.stderr, "wasmhot: build ok")
	return true
}

// buildWaitDelay is how long a build's output is read after its shell
// exited, for children left behind that hold it open.
const buildWaitDelay = 5 * time.Second

// runShell runs cmd with the system shell, in its own process group
// (killed whole if ctx ends), and returns the end of its output.
func runShell(ctx context.Context, cmd string) ([]byte, error) {
	c := shellCommand(ctx, cmd)
	var out tailBuffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.bytes(), err
}

// tailBuffer keeps the last maxBuildOutput bytes written to it.
type tailBuffer struct {
	b       bytes.Buffer
	dropped bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b.Write(p)
	if over := t.b.Len() - maxBuildOutput; over > 0 {
		t.b.Next(over)
		t.dropped = true
	}
	return len(p), nil
}

func (t *tailBuffer) bytes() []byte {
	if !t.dropped {
		return t.b.Bytes()
	}
	return append([]byte("[... the start of the output is cut ...]\n"), t.b.Bytes()...)
}
