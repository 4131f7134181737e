;; hostfn: a guest of host functions (Config.WithHostFunctions) that the
;; embedding program registers in the import module "env":
;;   add(i32, i32) -> i32, scale(i64, f32, f64) -> f64   numbers both ways
;;   upper(ptr, len i32) -> i64                           bytes in, bytes out
;;                                                        (ptr<<32|len, in memory from alloc)
;;   wait() -> i32                                        a function that may block
;;   fail(i32)                                            one that fails
;; The exports call them from Go calls (sum, scaled, shout, fail_with, wait)
;; and from processes (run: wait; echo: receive, upper, log; run_fail:
;; receive, then fail(length of the message)).
;; shout_evil makes alloc call upper itself: the host must refuse to run
;; alloc inside alloc, without crashing.
(module
  (import "env" "add" (func $add (param i32 i32) (result i32)))
  (import "env" "scale" (func $scale (param i64 f32 f64) (result f64)))
  (import "env" "upper" (func $upper (param i32 i32) (result i64)))
  (import "env" "wait" (func $wait (result i32)))
  (import "env" "fail" (func $fail (param i32)))
  (import "wasmhot" "receive" (func $receive (param i32 i32 i32) (result i32)))
  (import "wasmhot" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (global $top (mut i32) (i32.const 4096))
  (global $evil (mut i32) (i32.const 0))
  ;; a bump allocator over 4096..65535, starting again at the bottom when full
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32)
    (if (global.get $evil)
      (then (drop (call $upper (i32.const 0) (i32.const 1)))))
    (if (i32.gt_u (i32.add (global.get $top) (local.get $n)) (i32.const 65536))
      (then (global.set $top (i32.const 4096))))
    (local.set $p (global.get $top))
    (global.set $top (i32.add (global.get $top) (local.get $n)))
    (local.get $p))
  (func (export "sum") (param i32 i32) (result i32)
    (call $add (local.get 0) (local.get 1)))
  (func (export "scaled") (param i64 f32 f64) (result f64)
    (call $scale (local.get 0) (local.get 1) (local.get 2)))
  ;; a bytes function whose result is the host's: upper(input)
  (func (export "shout") (param i32 i32) (result i64)
    (call $upper (local.get 0) (local.get 1)))
  ;; upper of the 4 bytes at 65534: 2 of them lie outside memory
  (func (export "shout_bad") (result i64)
    (call $upper (i32.const 65534) (i32.const 4)))
  (func (export "shout_evil") (param i32 i32) (result i64)
    (global.set $evil (i32.const 1))
    (call $upper (local.get 0) (local.get 1)))
  (func (export "fail_with") (param i32) (call $fail (local.get 0)))
  (func (export "wait") (result i32) (call $wait))
  (func (export "run") (drop (call $wait)))
  (func (export "run_fail")
    (call $fail (call $receive (i32.const 0) (i32.const 0) (i32.const -1))))
  ;; receive one message (at most 1024 bytes) and log upper(message)
  (func (export "echo")
    (local $n i32) (local $r i64)
    (local.set $n (call $receive (i32.const 0) (i32.const 1024) (i32.const -1)))
    (local.set $r (call $upper (i32.const 0) (local.get $n)))
    (call $log (i32.wrap_i64 (i64.shr_u (local.get $r) (i64.const 32))) (i32.wrap_i64 (local.get $r)))))
