package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/tetratelabs/wazero"
	"github.com/urfave/cli/v2"

	"github.com/wasmhot/wasmhot/control"
	"github.com/wasmhot/wasmhot/host"
	"github.com/wasmhot/wasmhot/modules"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "tell what a .wasm file exports and imports, and whether a node can load it",
		ArgsUsage: "FILE.wasm",
		Description: "Lists the module's exports and imports with their Wasm signatures; which\n" +
			"functions of the guest ABI (the wasmhot import module) it uses; which\n" +
			"other guest modules it calls (imports from them are external calls,\n" +
			"routed at call time to their current version); whether it needs WASI;\n" +
			"whether it exports its memory, code_change, alloc, functions of the bytes\n" +
			"convention ((i32,i32)->(i64)) and process entry points (()->()).\n" +
			"\n" +
			"Then the verdict: the module is prepared (compiled, its imports checked,\n" +
			"instantiated once, so a start function that traps is caught) in a\n" +
			"throwaway node with the default configuration (and --start-timeout),\n" +
			"plus WASI when the module imports it (a node must then grant it:\n" +
			"--wasi NAME), and discarded.\n" +
			"The module is named by the file's base name, or --name. Exits 0 when the\n" +
			"module can be loaded, 1 with the reason when it cannot. --json prints the\n" +
			"report as JSON (fields: see README.md, \"JSON output\").\n" +
			"\n" +
			"Example:\n" +
			"   wasmhot inspect guest-examples/wasm/gs.wasm",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			&cli.StringFlag{Name: "name", Usage: "inspect FILE as module `NAME` (default: its base name without .wasm)"},
			&cli.DurationFlag{Name: "start-timeout", Value: host.DefaultStartTimeout, Usage: "bound on the start function (and _initialize) in the trial, as a node's --start-timeout"},
		},
		Action: func(c *cli.Context) error {
			args, err := exactArgs(c, 1)
			if err != nil {
				return err
			}
			file := args[0]
			name := moduleName(file)
			if c.IsSet("name") {
				name = c.String("name")
				if !modules.ValidName(name) {
					return usageError(c, "--name "+notModuleName(name))
				}
			}
			what := "inspect " + file
			wasm, err := os.ReadFile(file)
			if err != nil {
				return fail(what, err)
			}
			cfg := host.NewConfig().WithLog(io.Discard).WithStartTimeout(c.Duration("start-timeout"))
			if err := cfg.Validate(); err != nil {
				return usageError(c, strings.TrimPrefix(err.Error(), "host: "))
			}
			rep := inspect(c.Context, cfg, file, name, wasm)
			if c.Bool("json") {
				if err := printJSON(c.App.Writer, rep); err != nil {
					return fail(what, err)
				}
			} else if err := rep.print(c.App.Writer); err != nil {
				return fail(what, err)
			}
			if !rep.Loadable {
				return fail(what, errors.New("not loadable: "+rep.Reason))
			}
			return nil
		},
	}
}

// inspectReport is what `wasmhot inspect` finds out about a module. Its
// JSON form is documented in README.md; fields are only ever added.
type inspectReport struct {
	File   string `json:"file"`
	Module string `json:"module"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
	// Valid: the bytes are a Wasm module (else the lists are empty).
	Valid    bool             `json:"valid"`
	Exports  []control.Export `json:"exports"`  // exported functions, by name
	Memories []string         `json:"memories"` // exported memories, by name
	Imports  []inspectImport  `json:"imports"`  // in the module's order
	// ABI lists the functions of the guest ABI the module imports.
	ABI []string `json:"abi"`
	// External lists the guest modules it imports functions from, by
	// name; ExternalCalls the functions, as "module:function".
	External      []string `json:"external_modules"`
	ExternalCalls []string `json:"external_calls"`
	WASI          bool     `json:"wasi"`
	Memory        bool     `json:"memory"`      // exports a memory named "memory"
	CodeChange    bool     `json:"code_change"` // exports code_change (i64)->()
	Alloc         bool     `json:"alloc"`       // exports alloc (i32)->(i32)
	// BytesFunctions are the exports of the bytes convention's type,
	// (i32,i32)->(i64); EntryPoints those a process can run, ()->().
	BytesFunctions []string `json:"bytes_functions"`
	EntryPoints    []string `json:"entry_points"`
	// Loadable is the verdict; Reason says why not. CheckedWithWASI:
	// the trial node granted WASI, as the module needs it.
	Loadable        bool     `json:"loadable"`
	CheckedWithWASI bool     `json:"checked_with_wasi"`
	Reason          string   `json:"reason"`
	Warnings        []string `json:"warnings"`
}

// inspectImport is one import.
type inspectImport struct {
	Module    string `json:"module"`
	Name      string `json:"name"`
	Signature string `json:"signature"` // "(i32)->(i64)", or "memory"
	// Kind: "abi" (wasmhot), "wasi", "external" (a guest module's
	// function: an external call) or "unsupported" (nothing provides it).
	Kind string `json:"kind"`
}

const (
	importABI         = "abi"
	importWASI        = "wasi"
	importExternal    = "external"
	importUnsupported = "unsupported"
)

var (
	sigEntry      = host.EntrySignature()
	sigBytes      = host.BytesSignature()
	sigAlloc      = host.AllocSignature()
	sigCodeChange = host.CodeChangeSignature()
)

// inspect reads the module and prepares it in a throwaway host of
// configuration cfg.
func inspect(ctx context.Context, cfg host.Config, file, name string, wasm []byte) *inspectReport {
	sum := sha256.Sum256(wasm)
	rep := &inspectReport{
		File: file, Module: name, Size: len(wasm), SHA256: hex.EncodeToString(sum[:]),
		Exports: []control.Export{}, Memories: []string{}, Imports: []inspectImport{},
		ABI: []string{}, External: []string{}, ExternalCalls: []string{},
		BytesFunctions: []string{}, EntryPoints: []string{}, Warnings: []string{},
	}
	if err := rep.read(ctx, wasm); err != nil {
		rep.Reason = "not a valid Wasm module: " + oneLine(err.Error())
		return rep
	}
	if !modules.ValidName(name) {
		rep.Reason = notModuleName(name) + "; use --name"
		return rep
	}
	rep.Reason = rep.trial(ctx, cfg, name, wasm)
	rep.Loadable = rep.Reason == ""
	return rep
}

// read fills in the exports and imports, from a compilation in a
// throwaway wazero runtime (the interpreter's: it compiles fastest).
func (rep *inspectReport) read(ctx context.Context, wasm []byte) error {
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		return err
	}
	rep.Valid = true
	var funcs []modules.Func
	for n, d := range cm.ExportedFunctions() {
		funcs = append(funcs, modules.Func{Name: n, Signature: modules.Signature{Params: d.ParamTypes(), Results: d.ResultTypes()}})
	}
	slices.SortFunc(funcs, func(a, b modules.Func) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range funcs {
		rep.Exports = append(rep.Exports, control.Export{Name: f.Name, Signature: f.Signature.String()})
		switch {
		case f.Name == "_initialize":
			// run when an instance is made, not a process entry
		case f.Signature.Equal(sigEntry):
			rep.EntryPoints = append(rep.EntryPoints, f.Name)
		case f.Signature.Equal(sigBytes):
			rep.BytesFunctions = append(rep.BytesFunctions, f.Name)
		}
		switch f.Name {
		case "code_change":
			if rep.CodeChange = f.Signature.Equal(sigCodeChange); !rep.CodeChange {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("code_change has type %s, not (i64)->(): a process upgrading through it exits with badarity", f.Signature))
			}
		case "alloc":
			if rep.Alloc = f.Signature.Equal(sigAlloc); !rep.Alloc {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("alloc has type %s, not (i32)->(i32): bytes calls to this module fail", f.Signature))
			}
		}
	}
	for n := range cm.ExportedMemories() {
		rep.Memories = append(rep.Memories, n)
	}
	slices.Sort(rep.Memories)
	rep.Memory = slices.Contains(rep.Memories, "memory")
	if len(rep.BytesFunctions) > 0 && (!rep.Alloc || !rep.Memory) {
		rep.Warnings = append(rep.Warnings, "bytes-convention functions need alloc (i32)->(i32) and a memory export named \"memory\": bytes calls to this module fail")
	}

	for _, d := range cm.ImportedFunctions() {
		mod, n, _ := d.Import()
		sig := modules.Signature{Params: d.ParamTypes(), Results: d.ResultTypes()}
		imp := inspectImport{Module: mod, Name: n, Signature: sig.String()}
		switch {
		case mod == host.ABIModule:
			imp.Kind = importABI
			if !slices.Contains(rep.ABI, n) {
				rep.ABI = append(rep.ABI, n)
			}
		case mod == host.WASIModule:
			imp.Kind = importWASI
			rep.WASI = true
		case modules.ValidName(mod):
			imp.Kind = importExternal
			if !slices.Contains(rep.External, mod) {
				rep.External = append(rep.External, mod)
			}
			rep.ExternalCalls = append(rep.ExternalCalls, mod+":"+n)
		default:
			imp.Kind = importUnsupported
		}
		rep.Imports = append(rep.Imports, imp)
	}
	slices.Sort(rep.External)
	for _, d := range cm.ImportedMemories() {
		mod, n, _ := d.Import()
		rep.Imports = append(rep.Imports, inspectImport{Module: mod, Name: n, Signature: "memory", Kind: importUnsupported})
	}
	return nil
}

// trial prepares the module in a throwaway host of configuration cfg (with
// WASI if the module imports it), then discards it. It returns why the
// module cannot be loaded, or "".
func (rep *inspectReport) trial(ctx context.Context, cfg host.Config, name string, wasm []byte) string {
	if rep.WASI {
		cfg = cfg.WithWASI("*")
		rep.CheckedWithWASI = true
	}
	h, err := host.New(ctx, cfg)
	if err != nil {
		return "cannot start a node to try it: " + oneLine(err.Error())
	}
	defer h.Close(context.WithoutCancel(ctx))
	p, err := h.Prepare(ctx, host.Source{Name: name, Wasm: wasm})
	if err != nil {
		var be *modules.BatchError
		if errors.As(err, &be) && len(be.Errs) == 1 {
			err = be.Errs[0].Err
		}
		msg := strings.TrimPrefix(err.Error(), modules.ErrBadModule.Error()+": ")
		msg = strings.TrimPrefix(cleanDetail(msg), name+": ")
		return oneLine(msg)
	}
	p.Discard(ctx)
	return ""
}

// print writes the report for people: the file, its exports and imports
// as tables, then what they mean, then the verdict.
func (rep *inspectReport) print(w io.Writer) error {
	var buf bytes.Buffer
	section := func(rows [][]string) {
		tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		_ = tw.Flush()
	}
	fmt.Fprintf(&buf, "%s: module %s, %d bytes, sha256 %s\n", rep.File, rep.Module, rep.Size, rep.SHA256)
	if rep.Valid {
		fmt.Fprintf(&buf, "exports:%s\n", noneIf(len(rep.Exports)+len(rep.Memories)))
		var rows [][]string
		for _, e := range rep.Exports {
			rows = append(rows, []string{"  " + e.Name, e.Signature, rep.exportRole(e.Name)})
		}
		for _, m := range rep.Memories {
			rows = append(rows, []string{"  " + m, "(memory)", ""})
		}
		section(rows)
		fmt.Fprintf(&buf, "imports:%s\n", noneIf(len(rep.Imports)))
		rows = nil
		for _, i := range rep.Imports {
			rows = append(rows, []string{"  " + i.Module + "." + i.Name, i.Signature, importRole(i, rep.Module)})
		}
		section(rows)
		section(rep.summary())
	}
	verdict := "NOT loadable: " + rep.Reason
	if rep.Loadable {
		verdict = "loadable (prepared in a throwaway node with the default config, then discarded)"
		if rep.CheckedWithWASI {
			verdict = "loadable (prepared in a throwaway node with the default config plus WASI, as it imports WASI, then discarded)"
		}
	}
	fmt.Fprintf(&buf, "verdict: %s\n", verdict)
	// No trailing blanks where a table row has an empty last cell.
	for _, l := range strings.SplitAfter(buf.String(), "\n") {
		if _, err := io.WriteString(w, strings.TrimRight(l, " \n")+strings.Repeat("\n", strings.Count(l, "\n"))); err != nil {
			return err
		}
	}
	return nil
}

// summary is what the exports and imports mean, as rows of two cells.
func (rep *inspectReport) summary() [][]string {
	ext := "none"
	if len(rep.External) > 0 {
		parts := make([]string, len(rep.External))
		for i, m := range rep.External {
			var fns []string
			for _, c := range rep.ExternalCalls {
				if mod, fn, _ := strings.Cut(c, ":"); mod == m {
					fns = append(fns, fn)
				}
			}
			parts[i] = fmt.Sprintf("%s (%s)", m, strings.Join(fns, ", "))
			if m == rep.Module {
				parts[i] += " itself"
			}
		}
		ext = strings.Join(parts, "; ") + ": routed at call time to the current version, undef while not loaded"
	}
	entries := listOr(rep.EntryPoints, "none")
	if len(rep.EntryPoints) > 0 {
		entries += fmt.Sprintf(" (wasmhot spawn %s %s)", rep.Module, rep.EntryPoints[0])
	}
	rows := [][]string{
		{"guest ABI:", listOr(rep.ABI, "none")},
		{"external calls:", ext},
		{"WASI:", yesNo(rep.WASI, "yes: a node must grant it (--wasi "+rep.Module+")", "no")},
		{"memory export:", yesNo(rep.Memory, "yes", "no")},
		{"code_change:", yesNo(rep.CodeChange, "yes: a process upgrading to this code calls it with the old vsn", "no")},
		{"alloc:", yesNo(rep.Alloc, "yes", "no")},
		{"bytes functions:", listOr(rep.BytesFunctions, "none")},
		{"entry points:", entries},
	}
	for _, warn := range rep.Warnings {
		rows = append(rows, []string{"warning:", warn})
	}
	return rows
}

// exportRole says what an export is for.
func (rep *inspectReport) exportRole(name string) string {
	switch {
	case name == "_initialize":
		return "run when an instance is made"
	case name == "code_change" && rep.CodeChange:
		return "code_change"
	case name == "alloc" && rep.Alloc:
		return "alloc (bytes convention)"
	case slices.Contains(rep.EntryPoints, name):
		return "entry point"
	case slices.Contains(rep.BytesFunctions, name):
		return "bytes convention"
	}
	return ""
}

// importRole says who provides an import.
func importRole(i inspectImport, self string) string {
	switch i.Kind {
	case importABI:
		return "guest ABI"
	case importWASI:
		return "WASI"
	case importExternal:
		if i.Module == self {
			return "external call (to itself)"
		}
		return "external call"
	}
	return "unsupported: nothing provides it"
}

func noneIf(n int) string {
	if n == 0 {
		return " none"
	}
	return ""
}

func listOr(l []string, none string) string {
	if len(l) == 0 {
		return none
	}
	return strings.Join(l, ", ")
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}
