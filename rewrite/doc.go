// Package rewrite is wasmhot's load-time WebAssembly rewriter: bytes in,
// bytes out, plus a record of what it injected.
//
// [Rewrite] decodes only what it must (the sections it changes and every
// instruction of every function body) and re-encodes the module; the
// sections it does not touch are copied byte for byte. It knows Wasm and
// nothing of hosts or processes: the host decides what an injected import
// does.
//
// # Fuel
//
// With [Options.Fuel], every function body is metered. The rewriter adds a
// mutable i64 global, the fuel counter, exported as [FuelGlobal] so that the
// host can set and read it, and an imported function [TickFunction] of
// module [RuntimeModule] with type (fuel i64) -> (refill i64).
//
// One fuel unit is one executed Wasm instruction. The structural markers
// block, loop, else, end and nop cost nothing; the instructions the rewriter
// injects cost nothing. Each basic block is charged its instruction count
// when it is entered (the counter is decremented), so a run's fuel use is
// exact and the same on every run of the same code on the same input.
// Checks, which compare the counter with zero and call the tick import when
// it is negative, sit only at loop headers and at the entries of functions
// that make calls: every cycle of control flow (a loop's back edge,
// recursion) passes one, so a guest runs at most one function body's
// straight-line code past the point where its fuel ran out. The tick import receives the (negative) counter
// and returns the new one; it is where a host stops, meters or yields.
//
// # Links
//
// With [Options.Link] (which needs Fuel), the rewriter prepares a module for
// external calls, in both directions.
//
// As a callee, the module gets one entry point per exported function: a
// wrapper of the same type that adds one to the injected i32 global
// exported as [DepthGlobal], calls the function and subtracts one. The
// entry points sit in an added table, in export section order
// ([Info.Entries]); the export [RefFunction] returns the i-th as a funcref.
//
// As a caller, every direct call of a function imported from a module that
// [Options.External] names becomes a check and an indirect call through an
// added link table (one entry per such import, [Info.Imports]):
//
//	if epoch != seen { table.init links from the lazy resolvers; seen = epoch }
//	call_indirect links[k]
//
// epoch and seen are injected i64 globals exported as [EpochGlobal] and
// [SeenGlobal]. A lazy resolver, also injected, fills its entry with the
// funcref the import [ResolveFunction] of [RuntimeModule] returns, then
// calls through it. The host decides what an entry resolves to and when
// the epoch changes. Other uses of such an import (ref.func, exports,
// element segments, return_call) are left as they are.
//
// Additions are appended (functions after the module's own, globals,
// tables and element segments after its own), so that only function
// indices move (by the one or two added imports). An index one past the
// input's own would name an addition; such input is refused as malformed.
//
// A module that already uses the reserved names (an import from
// RuntimeModule, an export whose name starts with [ReservedPrefix]) is
// refused with [ErrReserved]: a guest can neither reach nor forge what the
// rewrite injects.
package rewrite
