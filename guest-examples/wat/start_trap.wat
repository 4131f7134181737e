;; A start function that traps: loading it must fail and change nothing.
(module
  (func $start unreachable)
  (start $start)
  (func (export "version") (result i32) (i32.const 9)))
