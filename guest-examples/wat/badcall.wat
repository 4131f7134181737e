;; badcall: external calls that must fail. wrong_type imports cb:handle with
;; the wrong signature (badarity); missing imports cb:nothere (undef).
(module
  (import "cb" "handle" (func $handle (param i64) (result i32)))
  (import "cb" "nothere" (func $nothere (result i32)))
  (func (export "wrong_type") (drop (call $handle (i64.const 1))))
  (func (export "missing") (drop (call $nothere)))
)
