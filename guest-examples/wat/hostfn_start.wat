;; hostfn_start: its start function calls the host function env.get("start")
;; (bytes out through alloc, which runs while the instance is still being
;; made) and keeps the result; value, a bytes function, returns it.
(module
  (import "env" "get" (func $get (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "start")
  (global $top (mut i32) (i32.const 1024))
  (global $got (mut i64) (i64.const 0))
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $top))
    (global.set $top (i32.add (global.get $top) (local.get $n)))
    (local.get $p))
  (func $init (global.set $got (call $get (i32.const 0) (i32.const 5))))
  (start $init)
  (func (export "value") (param i32 i32) (result i64) (global.get $got)))
