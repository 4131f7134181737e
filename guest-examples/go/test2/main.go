// Command test2 is the seeds' partial update as a Go guest. loop receives a
// tick, logs its body line with what ?MODULE:f() returned, and loops
// locally; f is called through the module's import of its own name
// (test2.f), an external call that lands in the current version. v2 (-tags
// v2) adds a line to the loop body and changes f: after a reload a running
// loop logs the new f with the old body. A message starting with 's' stops
// it. Load it under the name "test2".
package main

import (
	"strconv"

	"github.com/wasmhot/wasmhot/guest"
)

func main() {}

// f is this version's answer; the loop reaches the current version's
// through ?MODULE:f().
//
//go:wasmexport f
func f() int32 { return vsn }

//go:wasmexport loop
func loop() {
	for {
		msg, _ := guest.Receive(guest.Forever)
		if len(msg) > 0 && msg[0] == 's' {
			return
		}
		if vsn == 2 {
			guest.Log("NEW CODE LINE IN LOOP")
		}
		guest.Log("[loop v" + strconv.Itoa(vsn) + " body] f() -> v" + strconv.Itoa(int(externalF())))
	}
}
