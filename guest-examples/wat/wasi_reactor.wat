;; wasi_reactor: a small WASI reactor, as Go and C toolchains build them:
;; _initialize (run when an instance is made) writes "ready\n" to stdout
;; with WASI's fd_write, and the module has alloc (for bytes calls) and an
;; entry point, run, that logs one line. The inspect tests use it to check
;; a WASI guest without compiling a 2 MB Go one.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasmhot" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "ready\n")
  (data (i32.const 272) "running")
  (global $heap (mut i32) (i32.const 1024))
  (func (export "_initialize")
    ;; one iovec at 0: (256, 6); the count written goes to 16
    (i32.store (i32.const 0) (i32.const 256))
    (i32.store (i32.const 4) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16))))
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "run")
    (call $log (i32.const 272) (i32.const 7))))
