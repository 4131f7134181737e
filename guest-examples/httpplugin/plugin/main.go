// Command plugin is the request handler of the httpplugin example, a Go
// guest with one bytes function, handle. Build v1 and v2 (-tags v2) with
// guest-examples/build-langs.sh; the httpplugin host serves HTTP with it and
// replaces it while it serves.
//
// Request (the input bytes): "METHOD REQUEST-URI\n" then the body.
// Response (the result bytes): "STATUS CONTENT-TYPE\n" then the body.
// GET /config/NAME answers the value of the host program's setting NAME,
// which the plugin asks its host for through the host function
// config.get.
package main

import (
	"bytes"
	"strings"

	"github.com/wasmhot/wasmhot/guest"
)

func main() {}

//go:wasmexport handle
func handle(ptr, n uint32) uint64 { return guest.HandleBytes(ptr, n, serve) }

func serve(req []byte) []byte {
	head, body, _ := bytes.Cut(req, []byte("\n"))
	method, uri, _ := strings.Cut(string(head), " ")
	if name, ok := strings.CutPrefix(uri, "/config/"); ok {
		// A value the host program holds: its host function config.get.
		if v := setting(name); v != "" {
			return []byte("200 text/plain; charset=utf-8\n" + name + "=" + v + "\n")
		}
		return []byte("404 text/plain; charset=utf-8\nno setting " + name + " (plugin " + version + ")\n")
	}
	if strings.HasPrefix(uri, "/nothere") {
		return []byte("404 text/plain; charset=utf-8\nno such page (plugin " + version + ")\n")
	}
	return []byte("200 text/plain; charset=utf-8\n" + greeting(method, uri, body))
}
