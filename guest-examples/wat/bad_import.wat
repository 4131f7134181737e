;; Imports no host can satisfy: a module name that is neither "wasmhot" nor a
;; valid guest module name, and a memory. Loading must fail and change nothing.
(module
  (import "Env" "nope" (func $nope (result i32)))
  (import "env" "mem" (memory 1))
  (func (export "version") (result i32) (call $nope)))
