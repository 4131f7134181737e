//go:build !v2

package main

import "strconv"

const version = "v1"

func greeting(method, uri string, body []byte) string {
	return "hello from plugin v1: " + method + " " + uri + " (" + strconv.Itoa(len(body)) + " bytes)\n"
}
