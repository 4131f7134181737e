//go:build unix

package host

import "golang.org/x/sys/unix"

// reserve maps n bytes of address space, inaccessible until committed.
func reserve(n uint64) ([]byte, error) {
	return unix.Mmap(-1, 0, int(n), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
}

// commit makes b[from:to] readable and writable (zero until written).
func commit(b []byte, from, to uint64) error {
	return unix.Mprotect(b[from:to], unix.PROT_READ|unix.PROT_WRITE)
}

// discard gives b's pages back to the system; b stays mapped, reading as
// zeros.
func discard(b []byte) { _ = unix.Madvise(b, unix.MADV_DONTNEED) }

// unreserve unmaps what reserve mapped.
func unreserve(b []byte) { _ = unix.Munmap(b) }
