;; chain_pc: processes whose life is one long external call (run) or one
;; short one (once).
(module
  (import "wasmhot" "receive" (func $receive (param i32 i32 i32) (result i32)))
  (import "wasmhot" "log" (func $log (param i32 i32)))
  (import "chain_x" "work" (func $work (result i32)))
  (import "chain_y" "version" (func $version (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "saw a new version")
  ;; run(): chain_x:work(), which returns only once it reaches a new
  ;; chain_y; then logs and exits normally.
  (func (export "run")
    (drop (call $work))
    (call $log (i32.const 0) (i32.const 17)))
  ;; once(): one call of chain_y:version(), then wait for messages forever.
  (func (export "once")
    (drop (call $version))
    (loop $l
      (drop (call $receive (i32.const 64) (i32.const 64) (i32.const -1)))
      (br $l))))
