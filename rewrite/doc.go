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
// A module that already uses the reserved names (an import from
// RuntimeModule, an export named FuelGlobal) is refused with
// [ErrReserved]: a guest can neither reach nor forge the injected counter
// and import.
package rewrite
