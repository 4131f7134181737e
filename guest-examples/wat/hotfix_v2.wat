;; hotfix v2: "incr" adds 10; the state is {count i64, upgraded_from i64}.
;; code_change(from_vsn) turns v1's 8-byte state into v2's 16-byte one and
;; leaves a v2 state as it is. "get" logs "v2 count=N from=F".
(module
  (import "wasmhot" "receive" (func $receive (param i32 i32 i32) (result i32)))
  (import "wasmhot" "log" (func $log (param i32 i32)))
  (import "wasmhot" "state" (func $state (param i32 i32) (result i32)))
  (import "wasmhot" "set_state" (func $set_state (param i32 i32)))
  (import "wasmhot" "continue" (func $continue (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "server")
  (data (i32.const 32) "v2 count=")
  (data (i32.const 256) " from=")

  (func $itoa (param $n i64) (param $ptr i32) (result i32)
    (local $len i32) (local $t i64) (local $i i32)
    (local.set $t (local.get $n))
    (loop $count
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (local.set $t (i64.div_u (local.get $t) (i64.const 10)))
      (br_if $count (i64.ne (local.get $t) (i64.const 0))))
    (local.set $i (local.get $len))
    (loop $digits
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $ptr) (local.get $i))
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $n) (i64.const 10)))))
      (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
      (br_if $digits (i32.gt_s (local.get $i) (i32.const 0))))
    (local.get $len))

  (func (export "code_change") (param $from i64)
    (if (i32.eq (call $state (i32.const 0) (i32.const 16)) (i32.const 8))
      (then
        (i64.store (i32.const 8) (local.get $from))
        (call $set_state (i32.const 0) (i32.const 16)))))

  (func (export "server")
    (local $c i64) (local $from i64) (local $m i32) (local $p i32)
    (if (i32.eq (call $state (i32.const 0) (i32.const 16)) (i32.const 16))
      (then
        (local.set $c (i64.load (i32.const 0)))
        (local.set $from (i64.load (i32.const 8)))))
    (loop $l
      (drop (call $receive (i32.const 64) (i32.const 64) (i32.const -1)))
      (local.set $m (i32.load8_u (i32.const 64)))
      (if (i32.eq (local.get $m) (i32.const 105)) ;; incr
        (then
          (local.set $c (i64.add (local.get $c) (i64.const 10)))
          (br $l)))
      (if (i32.eq (local.get $m) (i32.const 103)) ;; get: "v2 count=N from=F"
        (then
          (local.set $p (i32.add (i32.const 41) (call $itoa (local.get $c) (i32.const 41))))
          (memory.copy (local.get $p) (i32.const 256) (i32.const 6))
          (local.set $p (i32.add (local.get $p) (i32.const 6)))
          (local.set $p (i32.add (local.get $p) (call $itoa (local.get $from) (local.get $p))))
          (call $log (i32.const 32) (i32.sub (local.get $p) (i32.const 32)))
          (br $l)))
      (if (i32.eq (local.get $m) (i32.const 117)) ;; update
        (then
          (i64.store (i32.const 0) (local.get $c))
          (i64.store (i32.const 8) (local.get $from))
          (call $set_state (i32.const 0) (i32.const 16))
          (call $continue (i32.const 16) (i32.const 6))
          (return)))
      (br_if $l (i32.ne (local.get $m) (i32.const 115))))) ;; stop
)
