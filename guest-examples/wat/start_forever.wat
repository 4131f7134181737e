;; A start function that never returns: loading must fail (sandboxed mode,
;; start timeout) and change nothing.
(module
  (func $start (loop $l (br $l)))
  (start $start)
  (func (export "version") (result i32) (i32.const 9)))
