;; reserved_export: exports a global under the name of the fuel counter the
;; load-time rewrite injects; sandboxed hosts refuse it.
(module
  (global (export "wasmhot:fuel") (mut i64) (i64.const 1000000))
  (func (export "f")))
