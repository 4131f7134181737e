package rewrite_test

import (
	"github.com/wasmhot/wasmhot/internal/wasmbin"

	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// wazeroModule is the module whose source tree ships the spec test suite
// (wast2json output) that TestSpecSuite and FuzzRewrite read.
const wazeroModule = "github.com/tetratelabs/wazero"

// specSuiteDirs are the suite directories, relative to the wazero module
// root, with the core features each one is written for.
var specSuiteDirs = []struct {
	name, rel string
	v2        bool
}{
	{"v1", "internal/integration_test/spectest/v1/testdata", false},
	{"v2", "internal/integration_test/spectest/v2/testdata", true},
}

var (
	wazeroRootOnce sync.Once
	wazeroRoot     string
	wazeroRootErr  error
)

// wazeroModuleRoot returns the directory of the wazero module this test
// binary was built with, as found in the module cache. It asks the go
// command first and falls back on the version required by go.mod plus the
// module cache location (test binaries carry no dependency versions).
func wazeroModuleRoot() (string, error) {
	wazeroRootOnce.Do(func() { wazeroRoot, wazeroRootErr = findWazeroModuleRoot() })
	return wazeroRoot, wazeroRootErr
}

func findWazeroModuleRoot() (string, error) {
	var tried []string
	hasSuite := func(dir string) bool {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(specSuiteDirs[0].rel)))
		return err == nil && st.IsDir()
	}

	goCmd, lookErr := exec.LookPath("go")
	if lookErr != nil {
		tried = append(tried, "go command: "+lookErr.Error())
	} else {
		out, err := exec.Command(goCmd, "list", "-m", "-f", "{{.Dir}}", wazeroModule).Output()
		dir := strings.TrimSpace(string(out))
		switch {
		case err != nil:
			tried = append(tried, fmt.Sprintf("go list -m %s: %v", wazeroModule, specCommandError(err)))
		case dir == "":
			tried = append(tried, fmt.Sprintf("go list -m %s: module not in the module cache", wazeroModule))
		case !hasSuite(dir):
			tried = append(tried, fmt.Sprintf("go list -m %s: %s has no spec suite", wazeroModule, dir))
		default:
			return dir, nil
		}
	}

	version, err := wazeroVersionFromGoMod()
	if err != nil {
		tried = append(tried, err.Error())
		return "", fmt.Errorf("cannot locate the %s module directory:\n\t%s", wazeroModule, strings.Join(tried, "\n\t"))
	}

	var caches []string
	if c := os.Getenv("GOMODCACHE"); c != "" {
		caches = append(caches, c)
	}
	if lookErr == nil {
		if out, err := exec.Command(goCmd, "env", "GOMODCACHE").Output(); err == nil {
			if c := strings.TrimSpace(string(out)); c != "" {
				caches = append(caches, c)
			}
		}
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		caches = append(caches, filepath.Join(filepath.SplitList(gp)[0], "pkg", "mod"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		caches = append(caches, filepath.Join(home, "go", "pkg", "mod"))
	}
	for _, c := range caches {
		dir := filepath.Join(c, filepath.FromSlash(wazeroModule)+"@"+version)
		if hasSuite(dir) {
			return dir, nil
		}
		tried = append(tried, dir+": no spec suite there")
	}
	return "", fmt.Errorf("cannot locate the %s module directory:\n\t%s", wazeroModule, strings.Join(tried, "\n\t"))
}

// wazeroVersionFromGoMod finds the go.mod above the working directory (the
// package directory under go test) and the version of wazero it requires.
func wazeroVersionFromGoMod() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		raw, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(raw), "\n") {
				f := strings.Fields(line)
				if len(f) > 0 && f[0] == "require" {
					f = f[1:]
				}
				if len(f) >= 2 && f[0] == wazeroModule {
					return f[1], nil
				}
			}
			return "", fmt.Errorf("%s does not require %s", filepath.Join(dir, "go.mod"), wazeroModule)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func specCommandError(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Sprintf("%v: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err.Error()
}

// spectestModuleBytes is the binary of the "spectest" module that the
// scripts import from: print functions that do nothing, four constant
// globals, a table of 10..20 funcref and a memory of 1..2 pages. It is
// encoded here because no assembler is available at test time.
var spectestModuleBytes = encodeSpectestModule()

func encodeSpectestModule() []byte {
	const (
		i32, i64, f32, f64 = 0x7f, 0x7e, 0x7d, 0x7c
		funcref            = 0x70
	)
	funcs := []struct {
		name   string
		params []byte
	}{
		{"print", nil},
		{"print_i32", []byte{i32}},
		{"print_i64", []byte{i64}},
		{"print_f32", []byte{f32}},
		{"print_f64", []byte{f64}},
		{"print_i32_f32", []byte{i32, f32}},
		{"print_f64_f64", []byte{f64, f64}},
	}

	out := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	section := func(id byte, count int, body []byte) {
		payload := wasmbin.AppendU32(nil, uint32(count))
		payload = append(payload, body...)
		out = append(out, id)
		out = wasmbin.AppendU32(out, uint32(len(payload)))
		out = append(out, payload...)
	}

	// Type section: one type per function, params only.
	var body []byte
	for _, f := range funcs {
		body = append(body, 0x60)
		body = wasmbin.AppendU32(body, uint32(len(f.params)))
		body = append(body, f.params...)
		body = append(body, 0x00)
	}
	section(1, len(funcs), body)

	// Function section: function i has type i.
	body = nil
	for i := range funcs {
		body = wasmbin.AppendU32(body, uint32(i))
	}
	section(3, len(funcs), body)

	// Table section: funcref, min 10, max 20.
	section(4, 1, []byte{funcref, 0x01, 10, 20})

	// Memory section: min 1, max 2.
	section(5, 1, []byte{0x01, 1, 2})

	// Global section: immutable constants.
	body = nil
	body = append(body, i32, 0x00, 0x41)
	body = wasmbin.AppendS64(body, 666)
	body = append(body, 0x0b)
	body = append(body, i64, 0x00, 0x42)
	body = wasmbin.AppendS64(body, 666)
	body = append(body, 0x0b)
	body = append(body, f32, 0x00, 0x43)
	body = binary.LittleEndian.AppendUint32(body, math.Float32bits(666.6))
	body = append(body, 0x0b)
	body = append(body, f64, 0x00, 0x44)
	body = binary.LittleEndian.AppendUint64(body, math.Float64bits(666.6))
	body = append(body, 0x0b)
	section(6, 4, body)

	// Export section.
	body = nil
	export := func(name string, kind byte, index int) {
		body = wasmbin.AppendU32(body, uint32(len(name)))
		body = append(body, name...)
		body = append(body, kind)
		body = wasmbin.AppendU32(body, uint32(index))
	}
	for i, f := range funcs {
		export(f.name, 0x00, i)
	}
	export("table", 0x01, 0)
	export("memory", 0x02, 0)
	for i, g := range []string{"global_i32", "global_i64", "global_f32", "global_f64"} {
		export(g, 0x03, i)
	}
	section(7, len(funcs)+6, body)

	// Code section: every body is empty (no locals, end).
	body = nil
	for range funcs {
		body = append(body, 0x02, 0x00, 0x0b)
	}
	section(10, len(funcs), body)
	return out
}
