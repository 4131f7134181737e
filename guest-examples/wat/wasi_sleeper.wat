;; wasi_sleeper: run() calls chain_y:version() once (linking chain_y into
;; the process), then sleeps 5 s in WASI's poll_oneoff, then logs "woke"
;; and spins. A purge or check of chain_y meanwhile must not wait for the
;; sleep: a WASI call is host code, a safepoint (host/safepoint.go).
(module
  (import "chain_y" "version" (func $version (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasmhot" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "woke")
  (func (export "run")
    (drop (call $version))
    ;; one subscription at 0: a relative monotonic clock of 5 s
    (i32.store8 offset=8 (i32.const 0) (i32.const 0))   ;; tag: clock
    (i32.store offset=16 (i32.const 0) (i32.const 1))   ;; id: monotonic
    (i64.store offset=24 (i32.const 0) (i64.const 5000000000))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
    (call $log (i32.const 256) (i32.const 4))
    (loop $l (br $l))))
