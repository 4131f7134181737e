;; hostkv: looks keys up in the program that embeds it, through the host
;; function env.get(key_ptr, key_len i32) -> i64, which returns the value
;; as ptr<<32|len in memory the host got from this module's alloc. The
;; example of Config.WithHostFunctions (host/example_test.go) uses it.
(module
  (import "env" "get" (func $get (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (global $top (mut i32) (i32.const 1024))
  ;; a bump allocator, starting again at the bottom when full
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $top) (local.get $n)) (i32.const 65536))
      (then (global.set $top (i32.const 1024))))
    (local.set $p (global.get $top))
    (global.set $top (i32.add (global.get $top) (local.get $n)))
    (local.get $p))
  ;; lookup: a bytes function whose result is the host's value of its input
  (func (export "lookup") (param i32 i32) (result i64)
    (call $get (local.get 0) (local.get 1))))
