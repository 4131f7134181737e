package guestexamples_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wasmhot/wasmhot/host"
)

// TestServerUpgradedInPlace: the gen_server examples (Go: go_hotserver,
// C: c_server) serve four client processes making 100 calls each while
// the host moves the server v1 -> v2 -> v3 with Suspend, ChangeCode and
// Resume, a refused change in between: every call is answered (no call
// fails or times out) and the server handled exactly 400.
func TestServerUpgradedInPlace(t *testing.T) {
	for _, lang := range []string{"go_hotserver", "c_server"} {
		t.Run(lang, func(t *testing.T) {
			ctx := context.Background()
			n := newNode(t, host.NewConfig())
			n.Load("srv", langWasm(t, lang+"_v1"))
			n.Load("cli", langWasm(t, "go_hotclient"))
			srv := n.Spawn("srv", "server", "")
			pi, err := n.H.Process(srv)
			if err != nil {
				t.Fatal(err)
			}
			const clients, calls = 4, 100
			cl := make([]host.PID, clients)
			for i := range cl {
				cl[i] = n.Spawn("cli", "client", fmt.Sprintf("%d %d", pi.Handle, calls))
			}
			for v := 2; v <= 3; v++ {
				if err := n.H.Suspend(srv); err != nil {
					t.Fatal(err)
				}
				if _, _, err := n.H.Reload(ctx, "srv", langWasm(t, fmt.Sprintf("%s_v%d", lang, v))); err != nil {
					t.Fatal(err)
				}
				if err := n.H.ChangeCode(ctx, srv, []byte("refuse")); !errors.Is(err, host.ErrRefused) || !strings.Contains(err.Error(), fmt.Sprintf("refused by v%d", v)) {
					t.Fatalf("refusing change to v%d: %v", v, err)
				}
				if err := n.H.ChangeCode(ctx, srv, []byte("go")); err != nil {
					t.Fatalf("change to v%d: %v", v, err)
				}
				if p, _ := n.H.Process(srv); p.Vsn != uint64(v) || p.VsnTag != fmt.Sprintf("%d.0.0", v) {
					t.Fatalf("after the change: vsn %d tag %q", p.Vsn, p.VsnTag)
				}
				if err := n.H.Resume(srv); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range cl {
				if e := n.Exit(c); e.Reason != host.Normal {
					t.Fatalf("client exit %v", e)
				}
				if got := n.Lines(c, 1); len(got) != 1 || got[0] != fmt.Sprintf("client done ok=%d failed=0", calls) {
					t.Errorf("client %s logged %q", c, got)
				}
			}
			n.Send(srv, "report")
			lines := n.Lines(srv, 5) // four code_change lines, then the report
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "v3 count=") || !strings.Contains(last, fmt.Sprintf(" handled=%d from=2.0.0", clients*calls)) {
				t.Errorf("server report %q (all lines %q)", last, lines)
			}
			n.Send(srv, "stop")
			if e := n.Exit(srv); e.Reason != host.Normal {
				t.Errorf("server exit %v", e)
			}
		})
	}
}
