;; cpu_ext: work() does what cpu:work() does, through external calls of
;; cpu's mix and fib, for fuel counts: the instructions are the same, so
;; the fuel must be too.
(module
  (import "cpu" "mix" (func $mix (param i64) (result i64)))
  (import "cpu" "fib" (func $fib (param i32) (result i32)))
  (func (export "work")
    (drop (call $mix (i64.const 100000)))
    (drop (call $fib (i32.const 15)))))
