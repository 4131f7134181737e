// Command test is the seeds' loop as a Go guest: run logs a line, waits for
// the next tick, then continues with ?MODULE:run(), so a reload shows from
// the next iteration on. Build v1 ("this is old code") and v2 ("this is new
// code", -tags v2) with guest-examples/build-langs.sh.
//
// A tick is a message, or the end of a wait of State() milliseconds (decimal
// text; default 100, "-1" waits for messages only). A message starting with
// 's' (stop) ends the process.
//
//	run        one line per tick, then continue("run"): the upgrade point
//	run_local  the same in a local Go loop: it never leaves its version
package main

import (
	"strconv"
	"time"

	"github.com/wasmhot/wasmhot/guest"
)

func main() {}

// tick waits for the next tick and reports whether to go on.
func tick() bool {
	ms, err := strconv.Atoi(string(guest.State()))
	if err != nil {
		ms = 100
	}
	msg, err := guest.Receive(time.Duration(ms) * time.Millisecond)
	return err != nil || len(msg) == 0 || msg[0] != 's'
}

//go:wasmexport run
func run() {
	guest.Log(text)
	if tick() {
		guest.Continue("run")
	}
}

//go:wasmexport run_local
func runLocal() {
	for {
		guest.Log(text)
		if !tick() {
			return
		}
	}
}
