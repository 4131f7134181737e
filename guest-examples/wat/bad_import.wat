;; An import no host provides: loading it must fail and change nothing.
(module
  (import "env" "nope" (func $nope (result i32)))
  (func (export "version") (result i32) (call $nope)))
