package host_test

import (
	"testing"

	"github.com/wasmhot/wasmhot/host"
)

// checkedRows: a checked external call (call_checked, ABI v2) returns
// undef as a value and its caller lives on; a plain import call of the
// same dropped function still ends the caller with undef, as in Erlang.
var checkedRows = []conformanceRow{
	{"21_checked_call_of_dropped_export_returns_undef", func(t *testing.T, cfg host.Config) {
		n := newNode(t, cfg)
		n.Load("e_mod", wasm("e_mod_v1"))
		n.Load("probe", wasm("probe"))
		n.Load("checked", wasm("checked"))
		c := n.Spawn("checked", "run", "")
		n.Expect(c, []string{"g", "e", "h"}, "ok 1", "ok 1", "ok 41")
		n.Load("e_mod", wasm("e_mod_v2")) // gone/0 dropped
		// undef (-1), bad arity (-2) and a trap in the callee (-4) are
		// values; the caller goes on.
		n.Expect(c, []string{"g", "b", "t", "h", "g"}, "status -1", "status -2", "status -4", "ok 41", "status -1")
		// A plain call of the dropped export: undef ends the caller.
		n.Send(c, "e")
		if e := n.Exit(c); e.Reason != host.Undef {
			t.Errorf("plain call of a dropped export: exit %v, want undef", e)
		}
	}},
}
