;; start_ext: its start function makes an external call (chain_y:version)
;; and keeps the answer, which got() returns: external calls work before an
;; instance is fully made.
(module
  (import "chain_y" "version" (func $version (result i32)))
  (global $v (mut i32) (i32.const 0))
  (func $start (global.set $v (call $version)))
  (start $start)
  (func (export "got") (result i32) (global.get $v)))
