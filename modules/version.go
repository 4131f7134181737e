package modules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmhot/wasmhot/rewrite"
)

// Signature is a Wasm function type.
type Signature struct {
	Params  []api.ValueType
	Results []api.ValueType
}

// Clone returns a copy of s that shares nothing with it.
func (s Signature) Clone() Signature {
	return Signature{Params: slices.Clone(s.Params), Results: slices.Clone(s.Results)}
}

// Equal reports whether s and o have the same parameter and result types.
func (s Signature) Equal(o Signature) bool {
	return string(s.Params) == string(o.Params) && string(s.Results) == string(o.Results)
}

// String formats the signature as "(i32,i32)->(i64)".
func (s Signature) String() string {
	return "(" + typeList(s.Params) + ")->(" + typeList(s.Results) + ")"
}

func typeList(ts []api.ValueType) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = api.ValueTypeName(t)
	}
	return strings.Join(names, ",")
}

// Func is one exported function of a version.
type Func struct {
	Name string
	Signature
}

// Import is one imported function of a version.
type Import struct {
	Module string
	Name   string
	Signature
}

// Version is one loaded version of a module. It is immutable once its
// module is finished, except that the host closes Compiled when the version
// is purged.
type Version struct {
	Name string
	Vsn  uint64 // 1, 2, 3... per name, assigned when the load finishes
	// VsnTag is the version's name for users, like Erlang's -vsn: the
	// string of its wasmhot.vsn custom section, or DefaultVsnTag of its
	// sha256. The same bytes always have the same tag.
	VsnTag   string
	UUID     uuid.UUID
	SHA256   [32]byte
	Size     int
	LoadedAt time.Time
	Exports  []Func // sorted by name
	Imports  []Import
	// Memory reports whether the version exports a linear memory named
	// "memory", which the bytes convention and the guest ABI need.
	Memory bool
	// MemoryMin is the initial size in bytes of that memory (0 when the
	// version exports none).
	MemoryMin uint64
	// Rewrite records what the load-time rewrite injected (nil: the
	// module was compiled as loaded). Compiled is of the rewritten bytes.
	Rewrite *rewrite.Info

	Compiled wazero.CompiledModule
}

// SHA256Hex is the version's sha256 in hex.
func (v *Version) SHA256Hex() string { return hex.EncodeToString(v.SHA256[:]) }

// Export returns the export named fn.
func (v *Version) Export(fn string) (Func, bool) {
	for _, f := range v.Exports {
		if f.Name == fn {
			return f, true
		}
	}
	return Func{}, false
}

func (v *Version) String() string {
	return fmt.Sprintf("%s vsn %d (%s)", v.Name, v.Vsn, v.UUID)
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// ValidName reports whether name is a valid module name:
// [a-z][a-z0-9_]{0,63}, like an unquoted Erlang atom.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// CheckName returns an error wrapping [ErrBadName] when name is not valid.
func CheckName(name string) error {
	if !ValidName(name) {
		return fmt.Errorf("%w: %s (want [a-z][a-z0-9_]{0,63})", ErrBadName, Excerpt(name))
	}
	return nil
}

// MaxFunctionName is the longest function name a call may name, in bytes.
const MaxFunctionName = 1024

// CheckFunctionName refuses a function name longer than MaxFunctionName
// with ErrBadName, before anything is looked up or kept.
func CheckFunctionName(name string) error {
	if len(name) > MaxFunctionName {
		return fmt.Errorf("%w: function name %s over %d bytes", ErrBadName, Excerpt(name), MaxFunctionName)
	}
	return nil
}

// excerptBytes is how much of an input an error message quotes.
const excerptBytes = 100

// Excerpt quotes s for an error message: whole when short, else its first
// 100 bytes (cut at a character boundary) and its length.
func Excerpt(s string) string {
	if len(s) <= excerptBytes {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:cutAt(s)]), len(s))
}

// Clip is Excerpt without the quotes, for names shown as they are.
func Clip(s string) string {
	if len(s) <= excerptBytes {
		return s
	}
	return fmt.Sprintf("%s... (%d bytes)", s[:cutAt(s)], len(s))
}

// cutAt is where Excerpt cuts s: at most 100 bytes, at a character start.
func cutAt(s string) int {
	cut := excerptBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return cut
}

func newVersion(name string, wasm []byte, c wazero.CompiledModule, rw *rewrite.Info) *Version {
	v := &Version{
		Name:     name,
		UUID:     uuid.New(),
		SHA256:   sha256.Sum256(wasm),
		Size:     len(wasm),
		Compiled: c,
		Rewrite:  rw,
	}
	v.VsnTag, _ = VsnTag(wasm) // checked by precheck
	if v.VsnTag == "" {
		v.VsnTag = DefaultVsnTag(v.SHA256)
	}
	for n, d := range c.ExportedFunctions() {
		if rw != nil && strings.HasPrefix(n, rewrite.ReservedPrefix) {
			continue // injected
		}
		v.Exports = append(v.Exports, Func{Name: n, Signature: Signature{d.ParamTypes(), d.ResultTypes()}})
	}
	sortFuncs(v.Exports)
	for _, d := range c.ImportedFunctions() {
		mod, n, _ := d.Import()
		if rw != nil && mod == rewrite.RuntimeModule {
			continue // injected, not the guest's
		}
		v.Imports = append(v.Imports, Import{Module: mod, Name: n, Signature: Signature{d.ParamTypes(), d.ResultTypes()}})
	}
	if md, ok := c.ExportedMemories()["memory"]; ok {
		v.Memory = true
		v.MemoryMin = uint64(md.Min()) << 16
	}
	return v
}
