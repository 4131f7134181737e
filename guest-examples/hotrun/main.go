// Command hotrun runs one guest process and hot-reloads its module whenever
// the .wasm file changes: the smallest edit-build-reload loop for writing a
// guest (docs/guests.md).
//
//	go run ./guest-examples/hotrun [flags] FILE.wasm
//
// It loads FILE.wasm as the module NAME (default: the file name without
// .wasm), grants it WASI (for Go guests), spawns NAME:FN with the initial
// state, and prints the guest's log lines. Each line typed on stdin is sent
// to the process as a message. When the file changes, the module is
// reloaded (host.Reload): the process moves to the new code at its next
// continue. hotrun exits when the process exits, or on Ctrl-C.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/wasmhot/wasmhot/host"
)

func main() {
	name := flag.String("name", "", "module name (default: the file name without .wasm)")
	fn := flag.String("fn", "run", "the process's entry function")
	state := flag.String("state", "", "the process's initial state")
	poll := flag.Duration("poll", 200*time.Millisecond, "how often to look at the file")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: hotrun [flags] FILE.wasm\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	file := flag.Arg(0)
	if *name == "" {
		*name = strings.TrimSuffix(filepath.Base(file), ".wasm")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, file, *name, *fn, *state, *poll); err != nil {
		fmt.Fprintln(os.Stderr, "hotrun:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, file, name, fn, state string, poll time.Duration) error {
	h, err := host.New(ctx, host.NewConfig().WithWASI(name).WithLog(os.Stdout))
	if err != nil {
		return err
	}
	defer h.Close(context.Background())
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	vi, err := h.Load(ctx, name, b)
	if err != nil {
		return err
	}
	fmt.Printf("hotrun: %s vsn %d loaded from %s (%d bytes)\n", name, vi.Vsn, file, len(b))
	pid, err := h.Spawn(ctx, name, fn, []byte(state))
	if err != nil {
		return err
	}
	go func() { // stdin lines are messages
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if err := h.Send(pid, sc.Bytes()); err != nil {
				fmt.Println("hotrun: send:", err)
			}
		}
	}()
	exited, err := h.Monitor(pid)
	if err != nil {
		return err
	}
	last := sha256.Sum256(b)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case e := <-exited:
			fmt.Printf("hotrun: process exited: %v\n", e)
			return nil
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		b, err := os.ReadFile(file)
		if err != nil {
			continue // being rewritten
		}
		sum := sha256.Sum256(b)
		if sum == last {
			continue
		}
		last = sum
		vi, res, err := h.Reload(ctx, name, b)
		if err != nil {
			fmt.Printf("hotrun: %s changed but did not load: %v\n", file, err)
			continue
		}
		fmt.Printf("hotrun: %s changed: vsn %d loaded", file, vi.Vsn)
		if res.KilledAny() {
			fmt.Print(" (the purge of the version before killed processes still in it)")
		}
		fmt.Println()
	}
}
