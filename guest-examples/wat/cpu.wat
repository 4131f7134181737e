;; cpu: CPU-bound guest code without host calls, for the fuel tests and the
;; interruption benchmarks (rewrite/, host/, internal/bench).
(module
  ;; mix(n): n iterations of a 12-instruction xorshift-multiply step.
  (func (export "mix") (param $n i64) (result i64)
    (local $x i64) (local $i i64)
    (local.set $x (i64.const 0x9E3779B97F4A7C15))
    (block $done
      (loop $l
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        (local.set $x (i64.add (local.get $x) (i64.mul (local.get $i) (i64.const 0x2545F4914F6CDD1D))))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $l)))
    (local.get $x))
  ;; empty(n): the emptiest loop, the worst case for a per-iteration check.
  (func (export "empty") (param $n i64) (result i64)
    (local $i i64)
    (block $done
      (loop $l
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $l)))
    (local.get $i))
  ;; fib(n): doubly recursive Fibonacci, a call-heavy workload.
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  ;; work(): a fixed amount of work as a process entry: mix(100000) and
  ;; fib(15), for fuel counts.
  (func (export "work")
    (drop (call 0 (i64.const 100000)))
    (drop (call $fib (i32.const 15))))
  ;; spin(): loops forever.
  (func (export "spin") (loop $l (br $l)))
  ;; nop(): returns at once, for the cost of a call.
  (func (export "nop"))
  ;; add(a, b).
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
)
