;; start_block: its start function blocks in receive until a message (or a
;; kill) comes; f() is then a no-op. A process whose first call of
;; start_block:f makes the instance waits inside that start function, in
;; host code.
(module
  (import "wasmhot" "receive" (func $receive (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $start (drop (call $receive (i32.const 0) (i32.const 64) (i32.const -1))))
  (start $start)
  (func (export "f")))
