//go:build !unix

package lockfile

import "os"

// Lock opens the file at path; without flock there is no exclusion.
func Lock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
