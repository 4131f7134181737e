;; hostfn_noalloc: imports env.upper, a host function that returns bytes
;; through the guest's alloc, and exports no alloc: it must fail to load
;; where env.upper is a host function.
(module
  (import "env" "upper" (func $upper (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "shout") (param i32 i32) (result i64)
    (call $upper (local.get 0) (local.get 1))))
