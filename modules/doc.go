// Package modules is wasmhot's code table: for every module name a current
// and an old slot, each holding one loaded [Version].
//
// Loading is two steps, as in Erlang's code:prepare_loading/finish_loading.
// [Table.Prepare] reads, validates and compiles the bytes and checks the
// imports; it changes nothing visible and may fail without harm.
// [Table.Finish] switches one or several prepared modules in a single step,
// all or none: the current version becomes old and the prepared one current.
// Finishing over a module that still has old code fails with
// [ErrNotPurged]; a sticky module refuses reload and delete with [ErrSticky].
//
// The table does not run code. Package host pairs each Version with its
// instances and publishes its exports; package purger frees old versions.
package modules
