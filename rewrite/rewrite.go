package rewrite

import "errors"

// Reserved names of what the rewriter injects. None is a valid wasmhot
// module or export name a guest could use by accident.
const (
	// RuntimeModule is the import module of the injected functions.
	RuntimeModule = "wasmhot:rt"
	// TickFunction is the fuel import, of type (fuel i64) -> (refill i64):
	// called with the counter at a check when it is negative, and before
	// every memory.grow whatever it is (the host's chance to stop a guest
	// before its memory grows); the counter becomes the result.
	TickFunction = "tick"
	// FuelGlobal is the export name of the injected fuel counter, a
	// mutable i64 global.
	FuelGlobal = "wasmhot:fuel"
	// RefFunction is the export name of the injected link entry, of type
	// (i32) -> (funcref): the entry point of the module's i-th exported
	// function, in export section order (Options.Link).
	RefFunction = "wasmhot:ref"
	// DepthGlobal is the export name of the injected mutable i32 global
	// that counts the calls running through the entry points.
	DepthGlobal = "wasmhot:depth"
	// ResolveFunction is the import, from RuntimeModule, of type (i32) ->
	// (funcref) that fills entry k of the link table: the callee's entry
	// point for the k-th external import (Info.Imports[k]).
	ResolveFunction = "resolve"
	// EpochGlobal and SeenGlobal are the export names of the injected
	// mutable i64 globals of the link table: the host sets the epoch when
	// what external calls reach may have changed; the module resets its
	// link table when the epoch differs from the one it last saw (the host
	// sets seen to -1 to force it).
	EpochGlobal = "wasmhot:epoch"
	SeenGlobal  = "wasmhot:seen"
	// FramesGlobal is the export name of the injected mutable i32 global
	// counting the frames of the instance's functions on the call stack
	// (Options.MaxFrames). A trap does not unwind it: after one, a value
	// above MaxFrames says the trap was the bound, and an embedder that
	// calls the instance again (instead of discarding it, as wasmhot does)
	// sets it to zero first.
	FramesGlobal = "wasmhot:frames"
	// ReservedPrefix starts every name the rewriter injects; a module may
	// not export a name with it, nor import from a module named with it.
	ReservedPrefix = "wasmhot:"
)

// Errors of [Rewrite].
var (
	// ErrMalformed: the bytes are not a module the rewriter can decode.
	ErrMalformed = errors.New("rewrite: malformed module")
	// ErrUnsupported: the module uses an instruction or encoding outside
	// the features the rewriter knows (the core spec with bulk memory,
	// reference types, SIMD, sign extension, non-trapping conversions,
	// multi-value, threads and tail calls).
	ErrUnsupported = errors.New("rewrite: unsupported instruction")
	// ErrReserved: the module already uses a reserved name.
	ErrReserved = errors.New("rewrite: reserved name")
)

// Options say what to inject.
type Options struct {
	// Fuel injects fuel metering (see the package documentation).
	Fuel bool
	// InitialFuel is the counter's value when an instance starts, which is
	// what its start function may use before the first tick.
	InitialFuel int64
	// Link adds the entry points of external calls and compiles the
	// module's own external calls (see the package documentation). It
	// needs Fuel: an entry point is only as interruptible as the code it
	// calls.
	Link bool
	// External says which import modules are other guest modules, whose
	// functions the module calls externally (Link): each direct call of
	// such an import becomes a call through the link table. Nil: none.
	External func(module string) bool
	// MaxFrames bounds the depth of the module's calls (0: no bound, as
	// wazero's, which lets a call stack grow to 400 MB): every function
	// counts its frames in a global exported as FramesGlobal, and an entry
	// past MaxFrames traps (unreachable) with the counter above it. Fuel
	// only.
	MaxFrames uint32
}

// Import is an imported function.
type Import struct{ Module, Name string }

// Info records what a rewrite injected.
type Info struct {
	// Functions is the number of function bodies rewritten.
	Functions int
	// Checks is the number of fuel checks (function entries and loop
	// headers); Charges the number of charges without a check.
	Checks, Charges int
	// TickIndex is the function index of the tick import in the output;
	// FuelIndex the global index of the fuel counter; FramesIndex that
	// of the frame counter (Options.MaxFrames).
	TickIndex, FuelIndex, FramesIndex uint32
	// Entries names the link entry points (Options.Link): the i-th is the
	// exported function whose name is Entries[i].
	Entries []string
	// Imports are the external imports (Options.External) in the order of
	// the link table: entry k calls Imports[k].
	Imports []Import
}
