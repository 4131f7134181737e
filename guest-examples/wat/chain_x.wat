;; chain_x: external calls to chain_y from inside a long-running call.
(module
  (import "chain_y" "version" (func $version (result i32)))
  ;; work() calls chain_y:version() until it answers something other than
  ;; 100001 (chain_y as built), and returns that answer: it ends only when
  ;; a new version of chain_y is reached from inside this one call.
  (func (export "work") (result i32)
    (local $v i32)
    (loop $l
      (local.set $v (call $version))
      (br_if $l (i32.eq (local.get $v) (i32.const 100001))))
    (local.get $v))
  ;; probe() answers chain_y:version() once.
  (func (export "probe") (result i32) (call $version))
  ;; watch() calls chain_y:version() forever, and traps if an answer is
  ;; lower than the one before: a process running it must see every load
  ;; of chain_y in order, and never an older version after a newer one.
  (func (export "watch")
    (local $v i32) (local $last i32)
    (loop $l
      (local.set $v (call $version))
      (if (i32.lt_s (local.get $v) (local.get $last)) (then unreachable))
      (local.set $last (local.get $v))
      (br $l))))
