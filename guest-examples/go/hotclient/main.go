// Command hotclient calls a server with the SDK's server.Call: its entry
// "client", spawned with the state "PID N" (the server's pid as guests see
// it, the handle), makes N calls "incr", each with a reference and a 60 s
// timeout, and logs "client done ok=K failed=F".
package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/wasmhot/wasmhot/guest"
	"github.com/wasmhot/wasmhot/guest/server"
)

func main() {}

//go:wasmexport client
func client() {
	f := strings.Fields(string(guest.State()))
	if len(f) != 2 {
		guest.Log("client: want state \"PID N\"")
		return
	}
	pid, _ := strconv.ParseInt(f[0], 10, 64)
	n, _ := strconv.Atoi(f[1])
	ok, failed := 0, 0
	for range n {
		if _, err := server.Call(pid, []byte("incr"), 60*time.Second); err != nil {
			failed++
			guest.Log("client: " + err.Error())
			continue
		}
		ok++
	}
	guest.Log("client done ok=" + strconv.Itoa(ok) + " failed=" + strconv.Itoa(failed))
}
