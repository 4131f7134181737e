// Package guestexamples holds the Wasm guests that wasmhot's tests, examples
// and demo use: WAT sources in wat/ (templates *.wat.in expanded per version
// by build.sh) and the built modules in wasm/, embedded so that nothing
// needs a guest toolchain.
package guestexamples

import (
	"embed"
	"fmt"
)

//go:embed wasm/*.wasm
var files embed.FS

// Wasm returns the built module name (e.g. "counter_v1"). It panics when the
// module does not exist, which is a programming error in a test or demo.
func Wasm(name string) []byte {
	b, err := files.ReadFile("wasm/" + name + ".wasm")
	if err != nil {
		panic(fmt.Sprintf("guestexamples: no module %q: %v", name, err))
	}
	return b
}
