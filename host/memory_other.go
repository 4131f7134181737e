//go:build !unix

package host

import "errors"

// Without mmap, every linear memory lives in the Go heap.

var errNoMmap = errors.New("host: no mmap on this platform")

func reserve(uint64) ([]byte, error)      { return nil, errNoMmap }
func commit([]byte, uint64, uint64) error { return errNoMmap }
func discard([]byte)                      {}
func unreserve([]byte)                    {}
