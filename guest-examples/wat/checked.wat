;; checked: external calls checked with call_checked (ABI v2), which returns
;; a failure as a value. "run" loops on messages: "g" calls e_mod:gone(),
;; "h" probe:hello(41), "b" probe:hello with no argument (bad arity), "t"
;; probe:trap(), each with call_checked, logging "ok N" or "status -K";
;; "e" calls e_mod:gone() through a plain import (undef ends the process
;; when the current e_mod dropped it); "s" stops.
(module
  (import "wasmhot" "receive" (func $receive (param i32 i32 i32) (result i32)))
  (import "wasmhot" "log" (func $log (param i32 i32)))
  (import "wasmhot" "call_checked" (func $call_checked (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "e_mod" "gone" (func $ext_gone (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "e_mod")
  (data (i32.const 8) "gone")
  (data (i32.const 16) "probe")
  (data (i32.const 24) "trap")
  (data (i32.const 32) "hello")
  (data (i32.const 48) "ok ")
  (data (i32.const 64) "status -")

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

  ;; report logs "ok N" (N the first result) or "status -K".
  (func $report (param $st i32)
    (if (i32.eqz (local.get $st))
      (then
        (call $log (i32.const 48) (i32.add (i32.const 3) (call $itoa (i64.load (i32.const 256)) (i32.const 51)))))
      (else
        (call $log (i32.const 64)
          (i32.add (i32.const 8) (call $itoa (i64.extend_i32_u (i32.sub (i32.const 0) (local.get $st))) (i32.const 72)))))))

  (func (export "run")
    (local $m i32)
    (i64.store (i32.const 128) (i64.const 41))
    (loop $l
      (drop (call $receive (i32.const 512) (i32.const 64) (i32.const -1)))
      (i64.store (i32.const 256) (i64.const 0))
      (local.set $m (i32.load8_u (i32.const 512)))
      (if (i32.eq (local.get $m) (i32.const 115)) (then (return))) ;; s
      (if (i32.eq (local.get $m) (i32.const 103)) ;; g
        (then (call $report (call $call_checked (i32.const 0) (i32.const 5) (i32.const 8) (i32.const 4)
                                               (i32.const 0) (i32.const 0) (i32.const 256) (i32.const 1)))))
      (if (i32.eq (local.get $m) (i32.const 104)) ;; h
        (then (call $report (call $call_checked (i32.const 16) (i32.const 5) (i32.const 32) (i32.const 5)
                                               (i32.const 128) (i32.const 1) (i32.const 256) (i32.const 1)))))
      (if (i32.eq (local.get $m) (i32.const 98)) ;; b
        (then (call $report (call $call_checked (i32.const 16) (i32.const 5) (i32.const 32) (i32.const 5)
                                               (i32.const 128) (i32.const 0) (i32.const 256) (i32.const 1)))))
      (if (i32.eq (local.get $m) (i32.const 116)) ;; t
        (then (call $report (call $call_checked (i32.const 16) (i32.const 5) (i32.const 24) (i32.const 4)
                                               (i32.const 0) (i32.const 0) (i32.const 256) (i32.const 0)))))
      (if (i32.eq (local.get $m) (i32.const 101)) ;; e
        (then
          (i64.store (i32.const 256) (i64.extend_i32_u (call $ext_gone)))
          (call $report (i32.const 0))))
      (br $l)))
)
