package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wasmhot/wasmhot/internal/lockfile"
)

// SocketName is the file name of a node's default socket.
const SocketName = "wasmhot.sock"

// DefaultSocket returns the socket a node listens on and clients dial when
// told nothing else: $XDG_RUNTIME_DIR/wasmhot.sock when XDG_RUNTIME_DIR is
// set (a per-user directory of mode 0700), else wasmhot.sock in the current
// directory.
func DefaultSocket() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, SocketName)
	}
	return SocketName
}

// ListenUnix listens on a Unix socket at path with mode 0600, so only the
// node's user can connect. The socket is made in a private temporary
// directory, given its mode there and then renamed into place, so it is
// never reachable with a wider mode. A stale socket left by a node that
// died is replaced; a socket some node still answers on is an error, and
// so is any other file at path. Closing the listener removes the socket
// file (if it is still this one).
func ListenUnix(path string) (_ net.Listener, err error) {
	// Two nodes started at once on one path would both find no socket and
	// both listen; the lock beside the socket lets one of them through.
	lock, err := lockfile.Lock(path + ".lock")
	if errors.Is(err, lockfile.ErrLocked) {
		return nil, fmt.Errorf("listen %s: a node is already listening there (it holds %s.lock)", path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = lock.Close()
		}
	}()
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("listen %s: exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("listen %s: a node is already listening there", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("listen %s: removing stale socket: %w", path, err)
		}
	}
	tmpDir, err := os.MkdirTemp(filepath.Dir(path), ".wasmhot-")
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false) // it is renamed; Close removes path itself
	err = os.Chmod(tmp, 0o600)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	var fi os.FileInfo
	if err == nil {
		fi, err = os.Lstat(path)
	}
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	return &unixListener{Listener: ln, path: path, fi: fi, lock: lock}, nil
}

type unixListener struct {
	net.Listener
	path string
	fi   os.FileInfo
	lock *os.File // held while listening
	once sync.Once
}

// Addr reports the socket's path, not the temporary name it was made with.
func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

func (l *unixListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() {
		if fi, serr := os.Lstat(l.path); serr == nil && os.SameFile(fi, l.fi) {
			_ = os.Remove(l.path)
		}
		// Removed while still held: a node starting now makes a new lock
		// file, and this one is shutting down.
		_ = os.Remove(l.lock.Name())
		_ = l.lock.Close()
	})
	return err
}

// ListenTCP listens on a TCP address of the loopback interface
// (127.0.0.0/8, ::1 or "localhost"); any other address is refused, since the
// control API can load and run code. Port 0 picks a free port; see
// Listener.Addr.
func ListenTCP(addr string) (net.Listener, error) {
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	if h == "localhost" {
		h = "127.0.0.1"
	}
	ip := net.ParseIP(h)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("listen %s: refusing a non-loopback address: the control API loads and runs code; use 127.0.0.1 or ::1 (and a tunnel to reach it from elsewhere)", addr)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), port))
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}

// MinTokenLen is the shortest bearer token ReadToken accepts.
const MinTokenLen = 16

// ReadToken reads a bearer token from a file: its content without the
// surrounding white space, at least MinTokenLen characters, printable ASCII.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < MinTokenLen {
		return "", fmt.Errorf("token file %s: token of %d characters, want at least %d", path, len(tok), MinTokenLen)
	}
	for _, c := range tok {
		if c < 0x21 || c > 0x7e {
			return "", errors.New("token file " + path + ": the token must be printable ASCII without spaces")
		}
	}
	return tok, nil
}
