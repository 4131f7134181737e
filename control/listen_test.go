package control

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "n.sock")
	ln, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v, mode %v; want a socket of mode 0600", err, fi.Mode())
	}
	if ln.Addr().String() != sock {
		t.Errorf("Addr() = %s, want %s", ln.Addr(), sock)
	}
	go func(ln net.Listener) {
		if c, err := ln.Accept(); err == nil {
			_ = c.Close()
		}
	}(ln)
	if c, err := net.Dial("unix", sock); err != nil {
		t.Errorf("dial the renamed socket: %v", err)
	} else {
		_ = c.Close()
	}
	if _, err := ListenUnix(sock); err == nil || !strings.Contains(err.Error(), "already listening") {
		t.Errorf("second listener on a live socket: %v", err)
	}
	_ = ln.Close()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after Close: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files left in the socket's directory: %v", ents)
	}

	// A stale socket (no one listening) is replaced.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	_ = stale.Close()
	ln, err = ListenUnix(sock)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	_ = ln.Close()

	// Any other file is left alone.
	if err := os.WriteFile(sock, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ListenUnix(sock); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file: %v", err)
	}
	if b, _ := os.ReadFile(sock); string(b) != "data" {
		t.Errorf("the regular file was touched")
	}
}

func TestListenTCP(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"localhost:0", true},
		{"127.0.0.2:0", true},
		{"0.0.0.0:0", false},
		{":0", false},
		{"[::]:0", false},
		{"192.0.2.1:0", false},
		{"example.com:80", false},
		{"127.0.0.1", false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			ln, err := ListenTCP(tc.addr)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
					t.Errorf("listening on %v", ip)
				}
				_ = ln.Close()
				return
			}
			if err == nil {
				_ = ln.Close()
				t.Fatalf("listening on %s, want a refusal", tc.addr)
			}
		})
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want string
		ok                  bool
	}{
		{"trimmed", "  0123456789abcdef\n", "0123456789abcdef", true},
		{"short", "abc\n", "", false},
		{"empty", "", "", false},
		{"inner space", "0123456789 abcdef", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadToken(p)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("ReadToken = %q, %v", got, err)
			}
		})
	}
	if _, err := ReadToken(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestParseNode(t *testing.T) {
	for _, tc := range []struct{ in, network, addr string }{
		{"/run/user/1/wasmhot.sock", "unix", "/run/user/1/wasmhot.sock"},
		{"wasmhot.sock", "unix", "wasmhot.sock"},
		{"./n", "unix", "./n"},
		{"node", "unix", "node"},
		{"unix:x:1", "unix", "x:1"},
		{"127.0.0.1:7000", "tcp", "127.0.0.1:7000"},
		{"[::1]:7000", "tcp", "[::1]:7000"},
		{"localhost:7000", "tcp", "localhost:7000"},
		{"tcp:localhost:7000", "tcp", "localhost:7000"},
	} {
		if n, a := ParseNode(tc.in); n != tc.network || a != tc.addr {
			t.Errorf("ParseNode(%q) = %s %s, want %s %s", tc.in, n, a, tc.network, tc.addr)
		}
	}
}

func TestDefaultSocket(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	if got := DefaultSocket(); got != "/run/user/1000/wasmhot.sock" {
		t.Errorf("DefaultSocket() = %s", got)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	if got := DefaultSocket(); got != "wasmhot.sock" {
		t.Errorf("DefaultSocket() = %s", got)
	}
}
