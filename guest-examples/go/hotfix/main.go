// Command hotfix is the seeds' controlled upgrade as a Go guest: a counter
// server that upgrades only when told to.
//
// Messages: "incr" adds 1 (v2: 10), "get" logs "v1 count=N" (v2: "v2
// count=N from=F"), "update" saves the state and continues with
// ?MODULE:server() (the upgrade point), "stop" ends it. Other messages
// loop locally, so a version loaded meanwhile is not used until "update".
//
// State: v1 keeps the count as 8 bytes (little-endian i64), v2 as 16 bytes
// {count, upgraded_from}; v2's code_change(from_vsn) turns the one into the
// other. The layout is the WAT hotfix's, so versions in different languages
// can replace each other.
package main

import "github.com/wasmhot/wasmhot/guest"

func main() {}

//go:wasmexport server
func server() {
	st := load(guest.State())
	for {
		msg, _ := guest.Receive(guest.Forever)
		switch string(msg) {
		case "incr":
			st.count += step
		case "get":
			guest.Log(st.String())
		case "update":
			guest.SetState(st.bytes())
			guest.Continue("server")
			return
		case "stop":
			return
		}
	}
}

func le64(b []byte) int64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return int64(v)
}

func putLE64(b []byte, v int64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}
