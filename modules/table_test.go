package modules_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmhot/wasmhot/guest-examples"
	"github.com/wasmhot/wasmhot/modules"
)

var wasm = guestexamples.Wasm

// counterVsn returns counter_v1's bytes with version() answering n: distinct
// bytes (and so a distinct module) for every n.
func counterVsn(t testing.TB, n uint32) []byte {
	t.Helper()
	b := append([]byte(nil), wasm("counter_v1")...)
	i := bytes.Index(b, []byte("VSN!"))
	if i < 0 {
		t.Fatal("counter_v1 has no VSN! marker")
	}
	b[i+4], b[i+5], b[i+6], b[i+7] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	return b
}

func newRuntime(t testing.TB) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	t.Cleanup(func() { _ = r.Close(ctx) })
	return r
}

func newTable(t testing.TB, opts modules.Options) *modules.Table {
	t.Helper()
	return modules.NewTable(newRuntime(t), opts)
}

// wasmhotOnly is an import policy that accepts only imports from module
// "wasmhot", as the host's does.
func wasmhotOnly(_ string, imp modules.Import) error {
	if imp.Module != "wasmhot" {
		return fmt.Errorf("no host module %q", imp.Module)
	}
	return nil
}

// tiny assembles a small module by hand, so that tests of what Prepare
// records do not depend on how the example guests evolve. It exports
// zadd(i32,i32)->i32 and k()->i32 (in that order in the binary), imports
// host.f(i32)->() when withImport, and exports its memory as "memory" when
// withMemory.
func tiny(withImport, withMemory bool) []byte {
	section := func(id byte, content ...byte) []byte {
		return append([]byte{id, byte(len(content))}, content...)
	}
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	const i32 = 0x7f
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, section(1,
		3,
		0x60, 2, i32, i32, 1, i32, // 0: (i32,i32)->(i32)
		0x60, 0, 1, i32, // 1: ()->(i32)
		0x60, 1, i32, 0, // 2: (i32)->()
	)...)
	nimp := byte(0)
	if withImport {
		imp := []byte{1}
		imp = append(imp, name("host")...)
		imp = append(imp, name("f")...)
		imp = append(imp, 0x00, 2) // func, type 2
		b = append(b, section(2, imp...)...)
		nimp = 1
	}
	b = append(b, section(3, 2, 0, 1)...)    // two functions: types 0 and 1
	b = append(b, section(5, 1, 0x00, 1)...) // one memory, min 1 page
	exp := []byte{2}
	exp = append(exp, name("zadd")...)
	exp = append(exp, 0x00, nimp)
	exp = append(exp, name("k")...)
	exp = append(exp, 0x00, nimp+1)
	if withMemory {
		exp[0] = 3
		exp = append(exp, name("memory")...)
		exp = append(exp, 0x02, 0)
	}
	b = append(b, section(7, exp...)...)
	b = append(b, section(10,
		2,
		7, 0, 0x20, 0, 0x20, 1, 0x6a, 0x0b, // local.get 0, local.get 1, i32.add
		4, 0, 0x41, 7, 0x0b, // i32.const 7
	)...)
	return b
}

func prepare(t testing.TB, tab *modules.Table, name string, b []byte) *modules.Prepared {
	t.Helper()
	p, err := tab.Prepare(context.Background(), modules.Source{Name: name, Wasm: b})
	if err != nil {
		t.Fatalf("Prepare(%s): %v", name, err)
	}
	return p
}

// load prepares and finishes one module, failing the test on error.
func load(t testing.TB, tab *modules.Table, name string, b []byte) *modules.Version {
	t.Helper()
	p := prepare(t, tab, name, b)
	if err := tab.Finish([]*modules.Prepared{p}, nil); err != nil {
		t.Fatalf("Finish(%s): %v", name, err)
	}
	return p.Version
}

// state is what a test expects of one name: the UUIDs of its current and
// old versions (uuid.Nil for none).
type state struct {
	cur, old uuid.UUID
}

func id(v *modules.Version) uuid.UUID {
	if v == nil {
		return uuid.Nil
	}
	return v.UUID
}

func stateOf(tab *modules.Table, name string) state {
	m, _ := tab.Get(name)
	return state{id(m.Current), id(m.Old)}
}

func checkState(t testing.TB, tab *modules.Table, name string, want state) {
	t.Helper()
	if got := stateOf(tab, name); got != want {
		t.Fatalf("%s: current %v old %v, want current %v old %v", name, got.cur, got.old, want.cur, want.old)
	}
}

// batchErr checks that err is a *BatchError naming exactly the modules in
// want, each matching its sentinel.
func batchErr(t testing.TB, err error, want map[string]error) {
	t.Helper()
	var be *modules.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("error %v (%T) is not a *BatchError", err, err)
	}
	got := map[string]error{}
	for _, me := range be.Errs {
		if _, dup := got[me.Module]; dup {
			t.Fatalf("BatchError names %s twice: %v", me.Module, err)
		}
		got[me.Module] = me
	}
	if len(got) != len(want) {
		t.Fatalf("BatchError names %d modules, want %d: %v", len(got), len(want), err)
	}
	for name, sentinel := range want {
		me, ok := got[name]
		if !ok {
			t.Fatalf("BatchError does not name %s: %v", name, err)
		}
		if sentinel != nil && !errors.Is(me, sentinel) {
			t.Fatalf("%s: error %v is not %v", name, me, sentinel)
		}
		if sentinel != nil && !errors.Is(err, sentinel) {
			t.Fatalf("errors.Is(batch error, %v) is false", sentinel)
		}
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		good bool
	}{
		{"a", true},
		{"z", true},
		{"a_b9", true},
		{"counter", true},
		{"a_", true},
		{"a__9__", true},
		{"abc123", true},
		{strings.Repeat("a", 64), true},
		{"a" + strings.Repeat("9", 63), true},
		{"", false},
		{"A", false},
		{"aB", false},
		{"9a", false},
		{"_a", false},
		{"../x", false},
		{"a/b", false},
		{"a.b", false},
		{"a-b", false},
		{"a b", false},
		{" a", false},
		{"a\n", false},
		{"a\x00", false},
		{strings.Repeat("a", 65), false},
		{"é", false},
		{"aé", false},
		{"ａ", false}, // fullwidth a
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.name), func(t *testing.T) {
			if got := modules.ValidName(tc.name); got != tc.good {
				t.Fatalf("ValidName(%q) = %v, want %v", tc.name, got, tc.good)
			}
			err := modules.CheckName(tc.name)
			if tc.good && err != nil {
				t.Fatalf("CheckName(%q) = %v, want nil", tc.name, err)
			}
			if !tc.good && !errors.Is(err, modules.ErrBadName) {
				t.Fatalf("CheckName(%q) = %v, want ErrBadName", tc.name, err)
			}
		})
	}
}

func TestBadNamesRefused(t *testing.T) {
	tab := newTable(t, modules.Options{})
	ctx := context.Background()
	for _, name := range []string{"", "A", "../x", strings.Repeat("a", 65)} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			if _, err := tab.Prepare(ctx, modules.Source{Name: name, Wasm: wasm("counter_v1")}); !errors.Is(err, modules.ErrBadName) {
				t.Fatalf("Prepare = %v, want ErrBadName", err)
			}
			if _, err := tab.Delete(name, nil); !errors.Is(err, modules.ErrBadName) {
				t.Fatalf("Delete = %v, want ErrBadName", err)
			}
			if err := tab.SetSticky(name, true); !errors.Is(err, modules.ErrBadName) {
				t.Fatalf("SetSticky = %v, want ErrBadName", err)
			}
		})
	}
	if all := tab.All(); len(all) != 0 {
		t.Fatalf("All = %v, want empty", all)
	}
}

func TestPrepareBadModule(t *testing.T) {
	good := wasm("counter_v1")
	tests := []struct {
		name string
		wasm []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"text", []byte("this is not wasm")},
		{"wat source", []byte("(module)")},
		{"magic only", []byte("\x00asm")},
		{"bad version", []byte("\x00asm\x02\x00\x00\x00")},
		{"truncated header", good[:6]},
		{"truncated half", good[:len(good)/2]},
		{"truncated last byte", good[:len(good)-1]},
		{"trailing garbage", append(append([]byte(nil), good...), 0xff, 0xff, 0xff)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := newTable(t, modules.Options{})
			load(t, tab, "other", wasm("counter_v2"))
			before := tab.All()
			p, err := tab.Prepare(context.Background(), modules.Source{Name: "m", Wasm: tc.wasm})
			if !errors.Is(err, modules.ErrBadModule) {
				t.Fatalf("Prepare = %v, want ErrBadModule", err)
			}
			if p != nil {
				t.Fatal("Prepare returned a prepared module with an error")
			}
			if !strings.Contains(err.Error(), "module[m]") {
				t.Errorf("error %q does not name the module", err)
			}
			if _, ok := tab.Get("m"); ok {
				t.Fatal("a failed Prepare left the module loaded")
			}
			if after := tab.All(); !slices.EqualFunc(before, after, func(a, b modules.Module) bool {
				return a.Name == b.Name && a.Current == b.Current && a.Old == b.Old
			}) {
				t.Fatalf("All changed from %v to %v", before, after)
			}
			// The name is still free to load.
			if v := load(t, tab, "m", good); v.Vsn != 1 {
				t.Fatalf("vsn %d, want 1", v.Vsn)
			}
		})
	}
}

func TestImportPolicy(t *testing.T) {
	ctx := context.Background()
	var seen []modules.Import
	recording := func(module string, imp modules.Import) error {
		seen = append(seen, imp)
		return wasmhotOnly(module, imp)
	}
	tab := newTable(t, modules.Options{Imports: recording})

	// bad_import imports a function nope from a module other than
	// "wasmhot": refused, naming the import.
	p, err := tab.Prepare(ctx, modules.Source{Name: "bad", Wasm: wasm("bad_import")})
	if !errors.Is(err, modules.ErrBadModule) {
		t.Fatalf("Prepare(bad_import) = %v, want ErrBadModule", err)
	}
	if p != nil {
		t.Fatal("Prepare returned a prepared module with an error")
	}
	if len(seen) != 1 {
		t.Fatalf("policy saw %+v, want one function import", seen)
	}
	imp := seen[0]
	wantSig := modules.Signature{Results: []api.ValueType{api.ValueTypeI32}}
	if imp.Name != "nope" || imp.Module == "wasmhot" || !imp.Signature.Equal(wantSig) {
		t.Fatalf("policy saw %+v, want a non-wasmhot import nope %s", imp, wantSig)
	}
	for _, want := range []string{"module[bad]", imp.Module + ".nope", wantSig.String(), "no host module"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, ok := tab.Get("bad"); ok {
		t.Fatal("refused module is loaded")
	}
	if all := tab.All(); len(all) != 0 {
		t.Fatalf("All = %v, want empty", all)
	}

	// A module without imports does not consult the policy.
	seen = nil
	load(t, tab, "plain", tiny(false, true))
	if len(seen) != 0 {
		t.Fatalf("policy consulted for a module without imports: %v", seen)
	}

	// The policy sees every function import with its signature, and its
	// refusal names the import.
	seen = nil
	_, err = tab.Prepare(ctx, modules.Source{Name: "tiny", Wasm: tiny(true, true)})
	if !errors.Is(err, modules.ErrBadModule) || !strings.Contains(err.Error(), "host.f (i32)->()") {
		t.Fatalf("Prepare(tiny) = %v, want ErrBadModule naming host.f (i32)->()", err)
	}
	wantImp := modules.Import{Module: "host", Name: "f", Signature: modules.Signature{Params: []api.ValueType{api.ValueTypeI32}}}
	if len(seen) != 1 || seen[0].Module != wantImp.Module || seen[0].Name != wantImp.Name || !seen[0].Signature.Equal(wantImp.Signature) {
		t.Fatalf("policy saw %+v, want [%+v]", seen, wantImp)
	}

	// Imports the policy accepts load: every example guest's imports are
	// from "wasmhot".
	for _, g := range []string{"counter_v1", "counter_v2", "counter_v3"} {
		load(t, tab, "counter", wasm(g))
		if m, _ := tab.Get("counter"); m.Old != nil {
			tab.FreeOld("counter", m.Old)
		}
	}

	// With no policy, any import is accepted.
	open := newTable(t, modules.Options{})
	v := load(t, open, "bad", wasm("bad_import"))
	if len(v.Imports) != 1 || v.Imports[0].Name != "nope" {
		t.Fatalf("Imports = %+v, want one function import nope", v.Imports)
	}
}

func TestMaxSize(t *testing.T) {
	b := wasm("counter_v1")
	tests := []struct {
		name    string
		max     int
		tooBig  bool
		garbage bool
	}{
		{"no limit", 0, false, false},
		{"exactly the size", len(b), false, false},
		{"one byte more", len(b) + 1, false, false},
		{"one byte less", len(b) - 1, true, false},
		{"tiny", 8, true, false},
		// The size is checked before the bytes are parsed.
		{"garbage over the limit", 8, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := newTable(t, modules.Options{MaxSize: tc.max})
			src := b
			if tc.garbage {
				src = bytes.Repeat([]byte{0xff}, len(b))
			}
			p, err := tab.Prepare(context.Background(), modules.Source{Name: "m", Wasm: src})
			if !tc.tooBig {
				if err != nil {
					t.Fatalf("Prepare = %v", err)
				}
				p.Discard(context.Background())
				return
			}
			if !errors.Is(err, modules.ErrTooLarge) {
				t.Fatalf("Prepare = %v, want ErrTooLarge", err)
			}
			if errors.Is(err, modules.ErrBadModule) {
				t.Fatalf("Prepare = %v: ErrTooLarge should not also be ErrBadModule", err)
			}
			if p != nil {
				t.Fatal("Prepare returned a prepared module with an error")
			}
			if _, ok := tab.Get("m"); ok {
				t.Fatal("refused module is loaded")
			}
		})
	}
}

func TestVersionInfo(t *testing.T) {
	tab := newTable(t, modules.Options{})
	b := tiny(true, true)
	p := prepare(t, tab, "tiny", b)
	v := p.Version
	if v.Name != "tiny" {
		t.Errorf("Name = %q", v.Name)
	}
	if v.Vsn != 0 {
		t.Errorf("Vsn = %d before Finish, want 0", v.Vsn)
	}
	if v.UUID == uuid.Nil {
		t.Error("UUID is nil")
	}
	if v.Size != len(b) {
		t.Errorf("Size = %d, want %d", v.Size, len(b))
	}
	sum := sha256.Sum256(b)
	if v.SHA256 != sum || v.SHA256Hex() != hex.EncodeToString(sum[:]) {
		t.Errorf("SHA256 %s, want %x", v.SHA256Hex(), sum)
	}
	if !v.Memory {
		t.Error("Memory false for a module exporting memory")
	}
	if v.Compiled == nil {
		t.Error("Compiled is nil")
	}
	i32 := api.ValueTypeI32
	wantImp := modules.Import{Module: "host", Name: "f", Signature: modules.Signature{Params: []api.ValueType{i32}}}
	if len(v.Imports) != 1 || v.Imports[0].Module != wantImp.Module || v.Imports[0].Name != wantImp.Name || !v.Imports[0].Signature.Equal(wantImp.Signature) {
		t.Errorf("Imports = %+v, want [%+v]", v.Imports, wantImp)
	}
	// Exports are sorted by name, whatever their order in the binary, and
	// list functions only.
	want := []modules.Func{
		{Name: "k", Signature: modules.Signature{Results: []api.ValueType{i32}}},
		{Name: "zadd", Signature: modules.Signature{Params: []api.ValueType{i32, i32}, Results: []api.ValueType{i32}}},
	}
	if len(v.Exports) != len(want) {
		t.Fatalf("Exports = %+v, want %+v", v.Exports, want)
	}
	for i, f := range want {
		if v.Exports[i].Name != f.Name || !v.Exports[i].Signature.Equal(f.Signature) {
			t.Errorf("export %d = %s %s, want %s %s", i, v.Exports[i].Name, v.Exports[i].Signature, f.Name, f.Signature)
		}
		got, ok := v.Export(f.Name)
		if !ok || !got.Signature.Equal(f.Signature) {
			t.Errorf("Export(%q) = %+v, %v", f.Name, got, ok)
		}
	}
	for _, fn := range []string{"nope", "memory", "f"} {
		if _, ok := v.Export(fn); ok {
			t.Errorf("Export(%q) found", fn)
		}
	}

	// Without an exported memory, or without imports.
	if nm := prepare(t, tab, "tiny", tiny(false, false)).Version; nm.Memory || len(nm.Imports) != 0 {
		t.Errorf("tiny without memory export or imports: Memory %v Imports %+v", nm.Memory, nm.Imports)
	}

	// The example guests: sorted exports; counter_v1 exports gone, which
	// counter_v2 drops.
	c1 := prepare(t, tab, "counter", wasm("counter_v1")).Version
	c2 := prepare(t, tab, "counter", wasm("counter_v2")).Version
	for _, c := range []*modules.Version{c1, c2} {
		if !slices.IsSortedFunc(c.Exports, func(a, b modules.Func) int { return strings.Compare(a.Name, b.Name) }) {
			t.Errorf("exports of %s not sorted", c.SHA256Hex())
		}
		add, ok := c.Export("add")
		if !ok || !add.Signature.Equal(modules.Signature{Params: []api.ValueType{i32, i32}, Results: []api.ValueType{i32}}) {
			t.Errorf("counter add = %+v, %v", add, ok)
		}
		if !c.Memory {
			t.Error("counter: Memory false")
		}
	}
	if _, ok := c1.Export("gone"); !ok {
		t.Error("counter_v1 does not export gone")
	}
	if _, ok := c2.Export("gone"); ok {
		t.Error("counter_v2 exports gone")
	}

	// A second Prepare of the same bytes is a new version: new UUID, same
	// hash.
	again := prepare(t, tab, "tiny", b).Version
	if again.UUID == v.UUID {
		t.Error("two prepares share a UUID")
	}
	if again.SHA256 != v.SHA256 {
		t.Error("same bytes, different hash")
	}
	if c2.SHA256 == c1.SHA256 {
		t.Error("different bytes, same hash")
	}

	// Signature helpers.
	add := want[1].Signature
	if s := add.String(); s != "(i32,i32)->(i32)" {
		t.Errorf("String = %q", s)
	}
	if s := want[0].Signature.String(); s != "()->(i32)" {
		t.Errorf("String = %q", s)
	}
	if s := (modules.Signature{Params: []api.ValueType{api.ValueTypeI64, api.ValueTypeF32}}).String(); s != "(i64,f32)->()" {
		t.Errorf("String = %q", s)
	}
	if add.Equal(want[0].Signature) || add.Equal(modules.Signature{Params: []api.ValueType{i32}, Results: []api.ValueType{i32, i32}}) ||
		!add.Equal(modules.Signature{Params: []api.ValueType{i32, i32}, Results: []api.ValueType{i32}}) {
		t.Error("Signature.Equal wrong")
	}

	// Finishing assigns the version number and the load time.
	if err := tab.Finish([]*modules.Prepared{p}, nil); err != nil {
		t.Fatal(err)
	}
	if v.Vsn != 1 || v.LoadedAt.IsZero() {
		t.Fatalf("after Finish: Vsn %d LoadedAt %v", v.Vsn, v.LoadedAt)
	}
	if s := v.String(); !strings.Contains(s, "tiny") || !strings.Contains(s, "vsn 1") || !strings.Contains(s, v.UUID.String()) {
		t.Errorf("String = %q", s)
	}
}

func TestFinishVsnAndOld(t *testing.T) {
	tab := newTable(t, modules.Options{})
	if _, ok := tab.Get("m"); ok {
		t.Fatal("Get of an unknown name is ok")
	}
	v1 := load(t, tab, "m", counterVsn(t, 1))
	if v1.Vsn != 1 {
		t.Fatalf("first vsn %d, want 1", v1.Vsn)
	}
	checkState(t, tab, "m", state{v1.UUID, uuid.Nil})

	v2 := load(t, tab, "m", counterVsn(t, 2))
	if v2.Vsn != 2 {
		t.Fatalf("second vsn %d, want 2", v2.Vsn)
	}
	checkState(t, tab, "m", state{v2.UUID, v1.UUID})

	// Third load while old code exists: refused, nothing changes.
	p3 := prepare(t, tab, "m", counterVsn(t, 3))
	err := tab.Finish([]*modules.Prepared{p3}, func([]modules.Switch) {
		t.Error("commit called for a refused batch")
	})
	batchErr(t, err, map[string]error{"m": modules.ErrNotPurged})
	checkState(t, tab, "m", state{v2.UUID, v1.UUID})
	if p3.Version.Vsn != 0 {
		t.Fatalf("refused version got vsn %d", p3.Version.Vsn)
	}

	// FreeOld, then the same prepared module finishes and gets vsn 3.
	if !tab.FreeOld("m", v1) {
		t.Fatal("FreeOld(v1) = false")
	}
	checkState(t, tab, "m", state{v2.UUID, uuid.Nil})
	if err := tab.Finish([]*modules.Prepared{p3}, nil); err != nil {
		t.Fatalf("Finish after FreeOld: %v", err)
	}
	if p3.Version.Vsn != 3 {
		t.Fatalf("third vsn %d, want 3", p3.Version.Vsn)
	}
	checkState(t, tab, "m", state{p3.Version.UUID, v2.UUID})

	// Version numbers are per name.
	if v := load(t, tab, "n", counterVsn(t, 1)); v.Vsn != 1 {
		t.Fatalf("other name's first vsn %d, want 1", v.Vsn)
	}
	// And keep counting after old code is freed and after a delete.
	if !tab.FreeOld("m", v2) {
		t.Fatal("FreeOld(v2) = false")
	}
	if ok, err := tab.Delete("m", nil); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if !tab.FreeOld("m", p3.Version) {
		t.Fatal("FreeOld(v3) = false")
	}
	if _, ok := tab.Get("m"); ok {
		t.Fatal("m still loaded after delete and free")
	}
	if v := load(t, tab, "m", counterVsn(t, 4)); v.Vsn != 4 {
		t.Fatalf("vsn after delete %d, want 4", v.Vsn)
	}
}

func TestFinishTwice(t *testing.T) {
	tab := newTable(t, modules.Options{})
	p := prepare(t, tab, "m", wasm("counter_v1"))
	if err := tab.Finish([]*modules.Prepared{p}, nil); err != nil {
		t.Fatal(err)
	}
	cur := stateOf(tab, "m")
	// A finished module cannot be finished again.
	batchErr(t, tab.Finish([]*modules.Prepared{p}, nil), map[string]error{"m": nil})
	checkState(t, tab, "m", cur)
	if p.Version.Vsn != 1 {
		t.Fatalf("vsn %d, want 1", p.Version.Vsn)
	}
	// Discard after finish leaves the loaded version alone.
	p.Discard(context.Background())
	checkState(t, tab, "m", cur)

	// A discarded module cannot be finished.
	d := prepare(t, tab, "n", wasm("counter_v1"))
	d.Discard(context.Background())
	d.Discard(context.Background()) // twice is harmless
	batchErr(t, tab.Finish([]*modules.Prepared{d}, nil), map[string]error{"n": nil})
	if _, ok := tab.Get("n"); ok {
		t.Fatal("discarded module loaded")
	}
	var nilPrep *modules.Prepared
	nilPrep.Discard(context.Background()) // nil is harmless
}

func TestFinishEmptyBatch(t *testing.T) {
	tab := newTable(t, modules.Options{})
	if err := tab.Finish(nil, func(sw []modules.Switch) {
		if len(sw) != 0 {
			t.Errorf("switches %v for an empty batch", sw)
		}
	}); err != nil {
		t.Fatalf("Finish(nil) = %v", err)
	}
	if all := tab.All(); len(all) != 0 {
		t.Fatalf("All = %v", all)
	}
}

func TestFinishDuplicate(t *testing.T) {
	tab := newTable(t, modules.Options{})
	a1 := prepare(t, tab, "a", counterVsn(t, 1))
	a2 := prepare(t, tab, "a", counterVsn(t, 2))
	b := prepare(t, tab, "b", counterVsn(t, 1))
	err := tab.Finish([]*modules.Prepared{a1, b, a2}, nil)
	batchErr(t, err, map[string]error{"a": modules.ErrDuplicate})
	for _, n := range []string{"a", "b"} {
		if _, ok := tab.Get(n); ok {
			t.Fatalf("%s loaded by a refused batch", n)
		}
	}
	// The same prepared module twice is a duplicate too.
	batchErr(t, tab.Finish([]*modules.Prepared{b, b}, nil), map[string]error{"b": modules.ErrDuplicate})
	if _, ok := tab.Get("b"); ok {
		t.Fatal("b loaded by a refused batch")
	}
	// Without the duplicate the batch goes through.
	if err := tab.Finish([]*modules.Prepared{a1, b}, nil); err != nil {
		t.Fatalf("Finish = %v", err)
	}
	checkState(t, tab, "a", state{a1.Version.UUID, uuid.Nil})
	checkState(t, tab, "b", state{b.Version.UUID, uuid.Nil})
}

func TestFinishAllOrNone(t *testing.T) {
	tab := newTable(t, modules.Options{})
	// a has old code; b has only current code; c is new.
	a1 := load(t, tab, "a", counterVsn(t, 1))
	a2 := load(t, tab, "a", counterVsn(t, 2))
	b1 := load(t, tab, "b", counterVsn(t, 1))

	pa := prepare(t, tab, "a", counterVsn(t, 3))
	pb := prepare(t, tab, "b", counterVsn(t, 2))
	pc := prepare(t, tab, "c", counterVsn(t, 1))
	err := tab.Finish([]*modules.Prepared{pb, pa, pc}, func([]modules.Switch) {
		t.Error("commit called for a refused batch")
	})
	batchErr(t, err, map[string]error{"a": modules.ErrNotPurged})
	if !strings.Contains(err.Error(), "module[a]") {
		t.Errorf("error %q does not name a", err)
	}
	checkState(t, tab, "a", state{a2.UUID, a1.UUID})
	checkState(t, tab, "b", state{b1.UUID, uuid.Nil})
	if _, ok := tab.Get("c"); ok {
		t.Fatal("c loaded by a refused batch")
	}
	for _, p := range []*modules.Prepared{pa, pb, pc} {
		if p.Version.Vsn != 0 {
			t.Fatalf("%s got vsn %d in a refused batch", p.Version.Name, p.Version.Vsn)
		}
	}

	// Several failing modules are all named.
	b2 := load(t, tab, "b", counterVsn(t, 3))
	batchErr(t, tab.Finish([]*modules.Prepared{pa, pb, pc}, nil),
		map[string]error{"a": modules.ErrNotPurged, "b": modules.ErrNotPurged})

	// Once purged, the whole batch switches together.
	tab.FreeOld("a", a1)
	tab.FreeOld("b", b1)
	var got []modules.Switch
	if err := tab.Finish([]*modules.Prepared{pa, pb, pc}, func(sw []modules.Switch) { got = sw }); err != nil {
		t.Fatalf("Finish = %v", err)
	}
	checkState(t, tab, "a", state{pa.Version.UUID, a2.UUID})
	checkState(t, tab, "b", state{pb.Version.UUID, b2.UUID})
	checkState(t, tab, "c", state{pc.Version.UUID, uuid.Nil})
	if len(got) != 3 {
		t.Fatalf("commit saw %d switches, want 3", len(got))
	}
}

func TestCommitSwitches(t *testing.T) {
	tab := newTable(t, modules.Options{})
	a1 := load(t, tab, "a", counterVsn(t, 1))
	pa := prepare(t, tab, "a", counterVsn(t, 2))
	pb := prepare(t, tab, "b", counterVsn(t, 1))
	calls := 0
	err := tab.Finish([]*modules.Prepared{pa, pb}, func(sw []modules.Switch) {
		calls++
		want := []modules.Switch{
			{Name: "a", New: pa.Version, Prev: a1},
			{Name: "b", New: pb.Version, Prev: nil},
		}
		if len(sw) != len(want) {
			t.Fatalf("commit saw %d switches, want %d", len(sw), len(want))
		}
		for i := range want {
			if sw[i] != want[i] {
				t.Errorf("switch %d = {%s %v %v}, want {%s %v %v}", i, sw[i].Name, sw[i].New, sw[i].Prev, want[i].Name, want[i].New, want[i].Prev)
			}
		}
		// The new versions are numbered before the commit runs.
		if pa.Version.Vsn != 2 || pb.Version.Vsn != 1 {
			t.Errorf("vsns %d %d in commit, want 2 1", pa.Version.Vsn, pb.Version.Vsn)
		}
		if pa.Version.LoadedAt.IsZero() || !pa.Version.LoadedAt.Equal(pb.Version.LoadedAt) {
			t.Errorf("LoadedAt %v %v: want one time for the batch", pa.Version.LoadedAt, pb.Version.LoadedAt)
		}
	})
	if err != nil {
		t.Fatalf("Finish = %v", err)
	}
	if calls != 1 {
		t.Fatalf("commit called %d times, want 1", calls)
	}
	checkState(t, tab, "a", state{pa.Version.UUID, a1.UUID})
	checkState(t, tab, "b", state{pb.Version.UUID, uuid.Nil})

	// Delete's commit sees New nil and Prev the current version.
	dcalls := 0
	ok, err := tab.Delete("b", func(sw modules.Switch) {
		dcalls++
		if sw.Name != "b" || sw.New != nil || sw.Prev != pb.Version {
			t.Errorf("delete switch {%s %v %v}, want {b <nil> %v}", sw.Name, sw.New, sw.Prev, pb.Version)
		}
	})
	if !ok || err != nil || dcalls != 1 {
		t.Fatalf("Delete = %v, %v; commit called %d times", ok, err, dcalls)
	}
	// Refused deletes do not commit.
	for _, name := range []string{"a", "b", "zz"} {
		ok, err := tab.Delete(name, func(modules.Switch) { t.Errorf("commit called for refused delete of %s", name) })
		if ok || err != nil {
			t.Fatalf("Delete(%s) = %v, %v; want false, nil", name, ok, err)
		}
	}

	// Loading b again after the delete: Prev is nil (no current), the old
	// code stays old.
	pb2 := prepare(t, tab, "b", counterVsn(t, 2))
	if err := tab.Finish([]*modules.Prepared{pb2}, func(sw []modules.Switch) {
		if len(sw) != 1 || sw[0].Name != "b" || sw[0].New != pb2.Version || sw[0].Prev != nil {
			t.Errorf("switches %+v, want one {b new <nil>}", sw)
		}
	}); err != nil {
		t.Fatalf("Finish after delete = %v", err)
	}
	checkState(t, tab, "b", state{pb2.Version.UUID, pb.Version.UUID})
	if pb2.Version.Vsn != 2 {
		t.Fatalf("vsn %d, want 2", pb2.Version.Vsn)
	}
}

func TestSticky(t *testing.T) {
	ctx := context.Background()
	tab := newTable(t, modules.Options{})
	p, err := tab.Prepare(ctx, modules.Source{Name: "s", Wasm: counterVsn(t, 1), Sticky: true})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Sticky {
		t.Fatal("Prepared.Sticky false")
	}
	if err := tab.Finish([]*modules.Prepared{p}, nil); err != nil {
		t.Fatal(err)
	}
	v1 := p.Version
	if m, _ := tab.Get("s"); !m.Sticky {
		t.Fatal("module not sticky")
	}

	// Reload refused, alone or in a batch with a good module.
	p2 := prepare(t, tab, "s", counterVsn(t, 2))
	batchErr(t, tab.Finish([]*modules.Prepared{p2}, nil), map[string]error{"s": modules.ErrSticky})
	po := prepare(t, tab, "o", counterVsn(t, 1))
	batchErr(t, tab.Finish([]*modules.Prepared{po, p2}, nil), map[string]error{"s": modules.ErrSticky})
	checkState(t, tab, "s", state{v1.UUID, uuid.Nil})
	if _, ok := tab.Get("o"); ok {
		t.Fatal("o loaded by a refused batch")
	}

	// Delete refused.
	ok, err := tab.Delete("s", func(modules.Switch) { t.Error("commit called for a refused delete") })
	if ok || !errors.Is(err, modules.ErrSticky) {
		t.Fatalf("Delete = %v, %v; want false, ErrSticky", ok, err)
	}
	checkState(t, tab, "s", state{v1.UUID, uuid.Nil})

	// Clearing the mark allows reload and delete; the name stays non-sticky
	// after a non-sticky load.
	if err := tab.SetSticky("s", false); err != nil {
		t.Fatal(err)
	}
	if err := tab.Finish([]*modules.Prepared{p2}, nil); err != nil {
		t.Fatalf("Finish after unsticking = %v", err)
	}
	checkState(t, tab, "s", state{p2.Version.UUID, v1.UUID})
	if m, _ := tab.Get("s"); m.Sticky {
		t.Fatal("sticky after a non-sticky load")
	}
	tab.FreeOld("s", v1)
	if ok, err := tab.Delete("s", nil); !ok || err != nil {
		t.Fatalf("Delete after unsticking = %v, %v", ok, err)
	}

	// The mark applies to a name that is not loaded.
	if err := tab.SetSticky("later", true); err != nil {
		t.Fatal(err)
	}
	if _, ok := tab.Get("later"); ok {
		t.Fatal("SetSticky loaded the name")
	}
	if slices.ContainsFunc(tab.All(), func(m modules.Module) bool { return m.Name == "later" }) {
		t.Fatal("All lists a sticky name that is not loaded")
	}
	pl := prepare(t, tab, "later", counterVsn(t, 1))
	batchErr(t, tab.Finish([]*modules.Prepared{pl}, nil), map[string]error{"later": modules.ErrSticky})
	if ok, err := tab.Delete("later", nil); ok || err != nil {
		t.Fatalf("Delete of a sticky name that is not loaded = %v, %v; want false, nil", ok, err)
	}
	if err := tab.SetSticky("later", false); err != nil {
		t.Fatal(err)
	}
	if err := tab.Finish([]*modules.Prepared{pl}, nil); err != nil {
		t.Fatalf("Finish = %v", err)
	}
	if pl.Version.Vsn != 1 {
		t.Fatalf("vsn %d, want 1", pl.Version.Vsn)
	}
}

func TestDelete(t *testing.T) {
	tab := newTable(t, modules.Options{})
	// Not loaded.
	if ok, err := tab.Delete("m", nil); ok || err != nil {
		t.Fatalf("Delete of an unknown name = %v, %v; want false, nil", ok, err)
	}
	v1 := load(t, tab, "m", counterVsn(t, 1))
	// Current becomes old.
	if ok, err := tab.Delete("m", nil); !ok || err != nil {
		t.Fatalf("Delete = %v, %v; want true, nil", ok, err)
	}
	checkState(t, tab, "m", state{uuid.Nil, v1.UUID})
	m, ok := tab.Get("m")
	if !ok || m.Current != nil || m.Old != v1 {
		t.Fatalf("Get after delete = %+v, %v", m, ok)
	}
	if all := tab.All(); len(all) != 1 || all[0].Name != "m" {
		t.Fatalf("All after delete = %+v, want m (old code only)", all)
	}
	// No current version: false, nothing changes.
	if ok, err := tab.Delete("m", nil); ok || err != nil {
		t.Fatalf("second Delete = %v, %v; want false, nil", ok, err)
	}
	checkState(t, tab, "m", state{uuid.Nil, v1.UUID})

	// Current and old: false, nothing changes.
	v2 := load(t, tab, "m", counterVsn(t, 2))
	checkState(t, tab, "m", state{v2.UUID, v1.UUID})
	if ok, err := tab.Delete("m", nil); ok || err != nil {
		t.Fatalf("Delete with old code = %v, %v; want false, nil", ok, err)
	}
	checkState(t, tab, "m", state{v2.UUID, v1.UUID})

	// After freeing the old code, delete works again.
	tab.FreeOld("m", v1)
	if ok, err := tab.Delete("m", nil); !ok || err != nil {
		t.Fatalf("Delete after FreeOld = %v, %v", ok, err)
	}
	checkState(t, tab, "m", state{uuid.Nil, v2.UUID})
	tab.FreeOld("m", v2)
	if _, ok := tab.Get("m"); ok {
		t.Fatal("m still present after delete and FreeOld")
	}
	if all := tab.All(); len(all) != 0 {
		t.Fatalf("All = %+v, want empty", all)
	}
}

func TestFreeOld(t *testing.T) {
	tab := newTable(t, modules.Options{})
	v1 := load(t, tab, "m", counterVsn(t, 1))
	other := load(t, tab, "n", counterVsn(t, 1))
	tests := []struct {
		name string
		mod  string
		v    *modules.Version
	}{
		{"no old code", "m", v1},
		{"nil version", "m", nil},
		{"unknown name", "zz", v1},
		{"another module's version", "m", other},
	}
	for _, tc := range tests {
		if tab.FreeOld(tc.mod, tc.v) {
			t.Fatalf("%s: FreeOld = true", tc.name)
		}
	}
	checkState(t, tab, "m", state{v1.UUID, uuid.Nil})

	v2 := load(t, tab, "m", counterVsn(t, 2))
	for _, tc := range []struct {
		name string
		v    *modules.Version
	}{
		{"the current version", v2},
		{"nil", nil},
		{"a stranger", other},
	} {
		if tab.FreeOld("m", tc.v) {
			t.Fatalf("FreeOld(%s) = true", tc.name)
		}
		checkState(t, tab, "m", state{v2.UUID, v1.UUID})
	}
	if !tab.FreeOld("m", v1) {
		t.Fatal("FreeOld(old) = false")
	}
	checkState(t, tab, "m", state{v2.UUID, uuid.Nil})
	if tab.FreeOld("m", v1) {
		t.Fatal("second FreeOld = true")
	}
	checkState(t, tab, "n", state{other.UUID, uuid.Nil})
}

func TestAllSorted(t *testing.T) {
	tab := newTable(t, modules.Options{})
	names := []string{"zeta", "alpha", "mid", "a", "alpha_2", "b9", "m"}
	// Some in one batch, some one by one.
	var batch []*modules.Prepared
	for i, n := range names[:4] {
		batch = append(batch, prepare(t, tab, n, counterVsn(t, uint32(i))))
	}
	if err := tab.Finish(batch, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range names[4:] {
		load(t, tab, n, counterVsn(t, 9))
	}
	// A deleted module (old code only) is listed; a sticky name that was
	// never loaded is not.
	if ok, _ := tab.Delete("mid", nil); !ok {
		t.Fatal("Delete(mid) = false")
	}
	if err := tab.SetSticky("nothing", true); err != nil {
		t.Fatal(err)
	}
	all := tab.All()
	var got []string
	for _, m := range all {
		got = append(got, m.Name)
	}
	want := slices.Clone(names)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("All = %v, want %v", got, want)
	}
	for _, m := range all {
		if m.Name == "mid" {
			if m.Current != nil || m.Old == nil {
				t.Fatalf("mid: %+v, want old code only", m)
			}
		} else if m.Current == nil || m.Current.Name != m.Name {
			t.Fatalf("%s: current %v", m.Name, m.Current)
		}
	}
	if all := newTable(t, modules.Options{}).All(); all == nil || len(all) != 0 {
		t.Fatalf("All of an empty table = %#v, want empty", all)
	}
}

func TestMaxModules(t *testing.T) {
	tab := newTable(t, modules.Options{MaxModules: 2})
	a1 := load(t, tab, "a", counterVsn(t, 1))
	load(t, tab, "b", counterVsn(t, 1))

	pc := prepare(t, tab, "c", counterVsn(t, 1))
	err := tab.Finish([]*modules.Prepared{pc}, nil)
	batchErr(t, err, map[string]error{"c": modules.ErrTooMany})
	if _, ok := tab.Get("c"); ok {
		t.Fatal("c loaded over the limit")
	}

	// Reloading a loaded name does not count.
	a2 := load(t, tab, "a", counterVsn(t, 2))
	// A deleted module still counts while it has old code.
	tab.FreeOld("a", a1)
	if ok, _ := tab.Delete("a", nil); !ok {
		t.Fatal("Delete(a) = false")
	}
	batchErr(t, tab.Finish([]*modules.Prepared{pc}, nil), map[string]error{"c": modules.ErrTooMany})
	// Once its old code is freed, the name no longer counts.
	tab.FreeOld("a", a2)
	if err := tab.Finish([]*modules.Prepared{pc}, nil); err != nil {
		t.Fatalf("Finish after freeing a = %v", err)
	}

	// A batch is counted as a whole: two new names with room for only one
	// refuse the whole batch, including the reload in it.
	tab2 := newTable(t, modules.Options{MaxModules: 3})
	x1 := load(t, tab2, "x", counterVsn(t, 1))
	load(t, tab2, "y", counterVsn(t, 1))
	px := prepare(t, tab2, "x", counterVsn(t, 2))
	p1 := prepare(t, tab2, "n1", counterVsn(t, 1))
	p2 := prepare(t, tab2, "n2", counterVsn(t, 1))
	err = tab2.Finish([]*modules.Prepared{px, p1, p2}, nil)
	var be *modules.BatchError
	if !errors.As(err, &be) || !errors.Is(err, modules.ErrTooMany) {
		t.Fatalf("Finish = %v, want a *BatchError matching ErrTooMany", err)
	}
	checkState(t, tab2, "x", state{x1.UUID, uuid.Nil})
	for _, n := range []string{"n1", "n2"} {
		if _, ok := tab2.Get(n); ok {
			t.Fatalf("%s loaded over the limit", n)
		}
	}
	// With room for exactly one more, the batch of a reload and one new
	// name goes through.
	if err := tab2.Finish([]*modules.Prepared{px, p1}, nil); err != nil {
		t.Fatalf("Finish = %v", err)
	}
	if n := len(tab2.All()); n != 3 {
		t.Fatalf("%d modules, want 3", n)
	}
	// A sticky mark on an unloaded name does not take a place.
	if err := tab2.SetSticky("marked", true); err != nil {
		t.Fatal(err)
	}
	batchErr(t, tab2.Finish([]*modules.Prepared{p2}, nil), map[string]error{"n2": modules.ErrTooMany})
}

func TestGetUnknown(t *testing.T) {
	tab := newTable(t, modules.Options{})
	m, ok := tab.Get("nobody")
	if ok || m.Name != "nobody" || m.Current != nil || m.Old != nil || m.Sticky {
		t.Fatalf("Get(nobody) = %+v, %v", m, ok)
	}
}

func TestBatchErrorFormat(t *testing.T) {
	tab := newTable(t, modules.Options{})
	load(t, tab, "a", counterVsn(t, 1))
	load(t, tab, "a", counterVsn(t, 2))
	pa := prepare(t, tab, "a", counterVsn(t, 3))
	pb1 := prepare(t, tab, "b", counterVsn(t, 1))
	pb2 := prepare(t, tab, "b", counterVsn(t, 2))
	err := tab.Finish([]*modules.Prepared{pa, pb1, pb2}, nil)
	batchErr(t, err, map[string]error{"a": modules.ErrNotPurged, "b": modules.ErrDuplicate})
	msg := err.Error()
	for _, want := range []string{"module[a]", "module[b]", "not purged", "duplicated"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if errors.Is(err, modules.ErrSticky) {
		t.Error("errors.Is matches a sentinel of no module")
	}
}
