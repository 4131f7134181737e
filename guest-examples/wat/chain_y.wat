;; chain_y: version() answers the constant in $vsn, 100001 as built. Tests
;; patch the constant (its 3-byte LEB encoding) to make as many versions as
;; they like (host/extcall_test.go, chainY).
(module
  (global $vsn i32 (i32.const 100001))
  (func (export "version") (result i32) (global.get $vsn)))
