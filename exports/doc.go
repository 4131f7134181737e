// Package exports is wasmhot's export table: the map from module:function to
// the entry of the module's current version that every fully qualified call
// goes through.
//
// A caller resolves a name once with [Table.Resolve] and keeps the returned
// [Slot]; each call then does [Slot.Lookup], which is one atomic load of an
// immutable generation plus two slice indexings: no lock and no map lookup by
// string on the call path. A code switch builds a new generation for all the
// exports of the switched modules and publishes it with one atomic store
// ([Table.Publish]), so a batch of modules changes for every caller at once,
// like Erlang's staging and active code index.
//
// The table is generic in the entry type so that it knows nothing of what an
// entry is; package host stores its per-version call targets in it.
package exports
