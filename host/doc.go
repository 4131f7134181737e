// Package host is the wasmhot runtime a Go program embeds: Erlang/OTP-style
// hot code loading for WebAssembly guests on wazero.
//
// Start with [New] and a [Config]. A [Host] keeps, for every module name, a
// current and an old version. [Host.Load] makes new code current (failing
// with [ErrNotPurged] while old code exists, like code:load_file/1);
// [Host.Reload] purges first (c:l/1); [Host.AtomicLoad], [Host.Prepare] and
// [Host.Finish] switch several modules at once, all or none.
//
// Every fully qualified call goes through the export table to the current
// version: [Host.Call] and [Func.Call] from Go, [Host.CallBytes] for byte
// payloads, a guest's import of another guest module ("b" "f" is b:f), a
// spawn, and a process's continue. Calls inside one Wasm module are local
// and stay in the version they run in. That is the whole trick of hot code
// loading.
//
// Guest processes ([Host.Spawn]) run one instance each, with a mailbox
// ([Host.Send]) and a state. A process switches to new code only at its
// upgrade point: the guest calls wasmhot.continue("fn") and returns, and the
// host calls fn of the current version, carrying the state over and calling
// the new version's code_change. [Host.SoftPurge] frees old code nobody
// uses; [Host.Purge] kills the processes that linger in it. The guest ABI
// (the "wasmhot" import module) is described in docs/design.md.
//
// Two execution modes trade speed for control: [Sandboxed] (the default)
// rewrites every guest at load (package rewrite) to meter fuel, so it can
// stop any running guest within one fuel slice, enforce fuel budgets
// ([Config.WithFuel]) and count each process's fuel, and to compile its
// external calls into link tables (an epoch check and a call_indirect,
// a few nanoseconds); [Trusted] runs guests as loaded, a little faster on
// tight loops, routes external calls through the host, and can stop a
// guest only when it calls the host.
//
// Guests call the program that embeds them through host functions: Go
// functions registered under an import module name with
// [Config.WithHostFunctions] ([NewHostFunc], typed; [NewHostFuncStack],
// on the Wasm value stack), which guests import like any function. They
// belong to the program and are not reloaded; a [Caller] tells them which
// module, version and process called, and hands bytes to the guest
// through its alloc export.
//
// A failed call returns a [*CallError] naming the call and the reason;
// [Innermost] finds the call that failed first in a chain of external
// calls.
package host
