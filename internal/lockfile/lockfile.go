package lockfile

import "errors"

// ErrLocked: another process (or another open in this one) holds the lock.
var ErrLocked = errors.New("locked: another node uses it")
