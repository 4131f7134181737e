;; bench_a: the caller of the call benchmarks in host/bench_test.go. Loaded
;; into wasmhot as module "a", where (import "b" "f") is an external call
;; through the export table. The raw wazero floors instantiate the same
;; bytes with their own host modules "wasmhot" and "b".
;;
;;   run(n)       n external calls acc = b:f(acc); returns acc (= n)
;;   run_local(n) the same loop with a local call of $f; returns acc (= n)
;;   run_self(n)  n host round trips (wasmhot.self); returns the sum
;;   proc()       process entry: receives an i64 n, then does run(n)
(module
  (import "wasmhot" "self" (func $self (result i64)))
  (import "wasmhot" "receive" (func $receive (param i32 i32 i32) (result i32)))
  (import "b" "f" (func $bf (param i32) (result i32)))
  (memory (export "memory") 1)

  (func $f (param $x i32) (result i32)
    (i32.add (local.get $x) (i32.const 1)))

  (func $run (export "run") (param $n i64) (result i32)
    (local $i i64) (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (call $bf (local.get $acc)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $l)))
    (local.get $acc))

  (func (export "run_local") (param $n i64) (result i32)
    (local $i i64) (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (call $f (local.get $acc)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $l)))
    (local.get $acc))

  (func (export "run_self") (param $n i64) (result i64)
    (local $i i64) (local $acc i64)
    (block $done
      (loop $l
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (call $self)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $l)))
    (local.get $acc))

  (func (export "proc")
    (if (i32.ne (call $receive (i32.const 0) (i32.const 8) (i32.const -1)) (i32.const 8))
      (then unreachable))
    (if (i64.ne (i64.extend_i32_u (call $run (i64.load (i32.const 0)))) (i64.load (i32.const 0)))
      (then unreachable)))
)
