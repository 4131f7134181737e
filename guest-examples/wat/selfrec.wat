;; selfrec: f calls its own module's current f through the export table,
;; without end: an external call recursion that must end the caller (a trap
;; in sandboxed mode, where the calls are compiled into the guest; a limit
;; in trusted mode), never the node. The module must be loaded as
;; "selfrec".
(module
  (import "selfrec" "f" (func $f (param i32) (result i32)))
  (func (export "f") (param $n i32) (result i32)
    (i32.add (call $f (i32.add (local.get $n) (i32.const 1))) (i32.const 1))))
