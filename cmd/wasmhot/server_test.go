package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wasmhot/wasmhot/control"
)

// TestServerChangeCodeFromCLI: the gen_server examples, Go and C, each
// upgraded twice from the command line (suspend, load, change-code,
// resume) while four client processes call it 60 times each: every call
// is answered, and the server handled all 240.
func TestServerChangeCodeFromCLI(t *testing.T) {
	for _, lang := range []string{"go_hotserver", "c_server"} {
		t.Run(lang, func(t *testing.T) {
			dir := t.TempDir()
			n := startNode(t, dir, "--wasi", "*", "--start-timeout", "1m") // _initialize is slow under -race
			file := func(name string) string {
				b, err := os.ReadFile(filepath.Join("..", "..", "guest-examples", "wasm-langs", name+".wasm"))
				if err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, name+".wasm")
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			// Compiling a Go guest under the race detector, beside other
			// tests, can take longer than a client command's usual wait.
			load := func(args ...string) {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				full := append([]string{"load", "--node", n.sock}, args...)
				if code, out, errOut := runArgs(t, ctx, full...); code != 0 {
					t.Fatalf("wasmhot %s: exit %d\n%s%s", strings.Join(full, " "), code, out, errOut)
				}
			}
			load("--name", "srv", file(lang+"_v1"))
			load("--name", "cli", file("go_hotclient"))
			pid := strings.TrimSpace(n.cli(t, "spawn", "srv", "server"))
			var procs []control.Process
			if err := json.Unmarshal([]byte(n.cli(t, "procs", "--json")), &procs); err != nil || len(procs) != 1 {
				t.Fatalf("procs: %v %+v", err, procs)
			}
			const clients, calls = 4, 60
			var cl []string
			for range clients {
				cl = append(cl, strings.TrimSpace(n.cli(t, "spawn", "cli", "client", "--state", fmt.Sprintf("%d %d", procs[0].Handle, calls))))
			}
			for v := 2; v <= 3; v++ {
				n.cli(t, "suspend", pid)
				load("--purge", "--name", "srv", file(fmt.Sprintf("%s_v%d", lang, v)))
				if code, _, errOut := n.try(t, "change-code", "--extra", "refuse", pid); code != 1 || !strings.Contains(errOut, fmt.Sprintf("refused by v%d", v)) {
					t.Fatalf("refused change-code: exit %d, %q", code, errOut)
				}
				if out := strings.TrimSpace(n.cli(t, "change-code", "--extra", "go", pid)); out != fmt.Sprintf("%s vsn %d (%d.0.0)", pid, v, v) {
					t.Fatalf("change-code printed %q", out)
				}
				n.cli(t, "resume", pid)
			}
			for _, c := range cl {
				waitOutput(t, n.stdout, regexp.QuoteMeta(c)+`: client done ok=60 failed=0`)
			}
			n.cli(t, "send", pid, "report")
			waitOutput(t, n.stdout, regexp.QuoteMeta(pid)+fmt.Sprintf(`: v3 count=\d+ handled=%d from=2\.0\.0`, clients*calls))
			if strings.Contains(n.stdout.String(), "client: ") {
				t.Errorf("a client reported a failed call:\n%s", n.stdout)
			}
		})
	}
}
