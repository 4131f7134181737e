;; A wasmhot import with the wrong type: loading it must fail.
(module
  (import "wasmhot" "self" (func $self (result i32)))
  (func (export "version") (result i32) (call $self)))
