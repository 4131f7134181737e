// Package lockfile makes one node own a resource: its state directory, its
// Unix socket. Lock takes an exclusive lock on a file beside the resource,
// without waiting, and the system drops it when the node ends, however it
// ends, so a crashed node leaves nothing to clean up.
package lockfile
