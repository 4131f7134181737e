;; hotfix v1: a counter server that upgrades only when told to.
;; Messages: "incr" adds 1, "get" logs "v1 count=N", "update" saves the
;; state and continues with ?MODULE:server() (the upgrade point), "stop"
;; ends it. Other messages loop locally, so a new version loaded meanwhile
;; is not used until "update". State: the count as an 8-byte i64.
(module
  (import "wasmhot" "receive" (func $receive (param i32 i32 i32) (result i32)))
  (import "wasmhot" "log" (func $log (param i32 i32)))
  (import "wasmhot" "state" (func $state (param i32 i32) (result i32)))
  (import "wasmhot" "set_state" (func $set_state (param i32 i32)))
  (import "wasmhot" "continue" (func $continue (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "server")
  (data (i32.const 32) "v1 count=")

  ;; itoa writes n in decimal at ptr and returns the length.
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

  (func (export "server")
    (local $c i64) (local $m i32)
    (if (i32.eq (call $state (i32.const 0) (i32.const 8)) (i32.const 8))
      (then (local.set $c (i64.load (i32.const 0)))))
    (loop $l
      (drop (call $receive (i32.const 64) (i32.const 64) (i32.const -1)))
      (local.set $m (i32.load8_u (i32.const 64)))
      (if (i32.eq (local.get $m) (i32.const 105)) ;; incr
        (then
          (local.set $c (i64.add (local.get $c) (i64.const 1)))
          (br $l)))
      (if (i32.eq (local.get $m) (i32.const 103)) ;; get
        (then
          (call $log (i32.const 32)
            (i32.add (i32.const 9) (call $itoa (local.get $c) (i32.const 41))))
          (br $l)))
      (if (i32.eq (local.get $m) (i32.const 117)) ;; update
        (then
          (i64.store (i32.const 0) (local.get $c))
          (call $set_state (i32.const 0) (i32.const 8))
          (call $continue (i32.const 16) (i32.const 6))
          (return)))
      (br_if $l (i32.ne (local.get $m) (i32.const 115))))) ;; stop
)
