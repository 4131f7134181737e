;; hog: a guest that takes all the memory it can, for the memory budget's
;; tests (host/budget_test.go) and the soak run.
;;   grow() -> i32      (Go call) grows the memory 16 pages at a time until
;;                      memory.grow fails, then traps
;;   grow_ok() -> i32   the same, but returns the pages it got
;;   run                (entry) grows until refused, then traps
;;   flood              (entry) sends itself 64 KiB messages until a send
;;                      fails, logs "flood <code>", then waits forever
;;   statehog           (entry) sets a state of its whole memory, growing
;;                      it 16 pages each time, until stopped
;;   spawner            (entry) spawns hog:idle until spawn fails, logs
;;                      "spawned <n> <code>", then waits forever
;;   spam               (entry) logs 64 KiB lines (the host cuts them) in a
;;                      loop, until stopped
;;   idle               (entry) waits forever
(module
  (import "wasmhot" "self" (func $self (result i64)))
  (import "wasmhot" "spawn" (func $spawn (param i32 i32 i32 i32 i32 i32) (result i64)))
  (import "wasmhot" "send" (func $send (param i64 i32 i32) (result i32)))
  (import "wasmhot" "receive" (func $receive (param i32 i32 i32) (result i32)))
  (import "wasmhot" "set_state" (func $set_state (param i32 i32)))
  (import "wasmhot" "log" (func $log (param i32 i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "hog")
  (data (i32.const 8) "idle")
  (data (i32.const 16) "flood ")
  (data (i32.const 32) "spawned ")

  ;; fmt writes n >= 0 in decimal at p and returns the end.
  (func $fmt (param $p i32) (param $n i64) (result i32)
    (local $len i32) (local $t i64) (local $i i32)
    (if (i64.lt_s (local.get $n) (i64.const 0))
      (then
        (i32.store8 (local.get $p) (i32.const 45))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (local.set $n (i64.sub (i64.const 0) (local.get $n)))))
    (local.set $t (local.get $n))
    (loop $count
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (local.set $t (i64.div_u (local.get $t) (i64.const 10)))
      (br_if $count (i64.ne (local.get $t) (i64.const 0))))
    (local.set $i (local.get $len))
    (loop $digits
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $p) (local.get $i))
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $n) (i64.const 10)))))
      (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
      (br_if $digits (i32.gt_s (local.get $i) (i32.const 0))))
    (i32.add (local.get $p) (local.get $len)))

  (func $grow_all (result i32)
    (local $n i32)
    (block $done
      (loop $more
        (br_if $done (i32.lt_s (memory.grow (i32.const 16)) (i32.const 0)))
        (local.set $n (i32.add (local.get $n) (i32.const 16)))
        (br $more)))
    (local.get $n))

  (func $wait
    (loop $forever
      (drop (call $receive (i32.const 1024) (i32.const 0) (i32.const -1)))
      (br $forever)))

  (func (export "grow") (result i32)
    (drop (call $grow_all))
    unreachable)

  (func (export "grow_ok") (result i32) (call $grow_all))

  (func (export "run")
    (drop (call $grow_all))
    unreachable)

  (func (export "flood")
    (local $me i64) (local $r i32) (local $e i32)
    (drop (memory.grow (i32.const 1)))
    (local.set $me (call $self))
    (loop $more
      (local.set $r (call $send (local.get $me) (i32.const 65536) (i32.const 65536)))
      (br_if $more (i32.eqz (local.get $r))))
    (local.set $e (call $fmt (i32.const 22) (i64.extend_i32_s (local.get $r))))
    (call $log (i32.const 16) (i32.sub (local.get $e) (i32.const 16)))
    (call $wait))

  (func (export "statehog")
    (loop $more
      (call $set_state (i32.const 0) (i32.mul (memory.size) (i32.const 65536)))
      (drop (memory.grow (i32.const 16)))
      (br $more)))

  (func (export "spawner")
    (local $r i64) (local $n i64) (local $e i32)
    (loop $more
      (local.set $r (call $spawn (i32.const 0) (i32.const 3) (i32.const 8) (i32.const 4) (i32.const 0) (i32.const 0)))
      (if (i64.gt_s (local.get $r) (i64.const 0))
        (then
          (local.set $n (i64.add (local.get $n) (i64.const 1)))
          (br $more))))
    (i32.store8 (i32.const 40) (i32.const 32))
    (local.set $e (call $fmt (i32.const 40) (local.get $n)))
    (i32.store8 (local.get $e) (i32.const 32))
    (local.set $e (call $fmt (i32.add (local.get $e) (i32.const 1)) (local.get $r)))
    (call $log (i32.const 32) (i32.sub (local.get $e) (i32.const 32)))
    (call $wait))

  (func (export "spam")
    (loop $more
      (call $log (i32.const 0) (i32.const 65536))
      (br $more)))

  (func (export "idle") (call $wait)))
