;; gs: a generic server. Its loop receives a message and calls the callback
;; module cb externally: "h" calls cb:handle, "z" calls cb:slow(60000),
;; "s" stops. It logs "cb says vN". Between messages it waits in its own
;; receive, in gs code: not in cb.
(module
  (import "wasmhot" "receive" (func $receive (param i32 i32 i32) (result i32)))
  (import "wasmhot" "log" (func $log (param i32 i32)))
  (import "cb" "handle" (func $handle (param i32) (result i32)))
  (import "cb" "slow" (func $slow (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "cb says v")

  (func (export "loop")
    (local $m i32) (local $r i32)
    (loop $l
      (drop (call $receive (i32.const 200) (i32.const 100) (i32.const -1)))
      (local.set $m (i32.load8_u (i32.const 200)))
      (if (i32.eq (local.get $m) (i32.const 115)) (then (return)))
      (if (i32.eq (local.get $m) (i32.const 122))
        (then (local.set $r (call $slow (i32.const 60000))))
        (else (local.set $r (call $handle (local.get $m)))))
      (i32.store8 (i32.const 9) (i32.add (i32.const 48) (local.get $r)))
      (call $log (i32.const 0) (i32.const 10))
      (br $l)))
)
