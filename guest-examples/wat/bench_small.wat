;; bench_small: a small module to load (host/bench_test.go, BenchmarkLoad):
;; 6 functions, 1 import, 1 page of memory, 1 data segment, 1 global.
(module
  (import "wasmhot" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (data (i32.const 0) "hello from bench_small")

  (func $bump (result i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (global.get $count))
  (func (export "hello")
    (drop (call $bump))
    (call $log (i32.const 0) (i32.const 22)))
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))
  (func (export "count") (result i32)
    (global.get $count))
  (func (export "sum") (param $n i32) (result i64)
    (local $i i32) (local $acc i64)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $acc))
  (func (export "first_byte") (result i32)
    (i32.load8_u (i32.const 0)))
)
