;; chain_b: run() links chain_y (calls version once), then calls
;; start_block:f, whose instance's start function blocks in receive.
;; once() calls chain_y:version once, logs "called", then spins.
(module
  (import "chain_y" "version" (func $version (result i32)))
  (import "start_block" "f" (func $block))
  (import "wasmhot" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "called")
  (func (export "run")
    (drop (call $version))
    (call $block))
  (func (export "once")
    (drop (call $version))
    (call $log (i32.const 0) (i32.const 6))
    (loop $l (br $l))))
