// Package purger decides when old code can be freed and frees it.
//
// Two kinds of holders keep a version alive: calls in flight, counted by the
// version's [Gate], and processes that linger in it (their own instance is of
// that version, or a call into it is on their stack). [SoftPurge] frees a
// version only when nobody holds it, like code:soft_purge/1. [Purge] kills
// every process lingering in it, stops the calls in flight where the engine
// can interrupt them (and otherwise waits for them), then frees it, like
// code:purge/1; with [Options].Detach it returns once the processes are
// dead and leaves the calls in flight to finish in the detached version,
// freed after the last of them. [CheckProcessCode] is
// erlang:check_process_code/2.
//
// The purger sees versions and processes only through the small [Target] and
// [Process] interfaces; package host implements them.
package purger
