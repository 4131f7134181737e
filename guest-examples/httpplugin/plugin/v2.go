//go:build v2

package main

import (
	"bytes"
	"strconv"
)

const version = "v2"

// v2 also echoes the body upper-cased.
func greeting(method, uri string, body []byte) string {
	return "hello from plugin v2: " + method + " " + uri + " (" + strconv.Itoa(len(body)) + " bytes) " + string(bytes.ToUpper(body)) + "\n"
}
