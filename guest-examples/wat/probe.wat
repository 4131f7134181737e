;; probe: processes that exercise the guest ABI and log what it returned.
;; Numbers are logged in decimal ("r=-1"); see host/process_test.go.
(module
  (import "wasmhot" "self" (func $self (result i64)))
  (import "wasmhot" "spawn" (func $spawn (param i32 i32 i32 i32 i32 i32) (result i64)))
  (import "wasmhot" "send" (func $send (param i64 i32 i32) (result i32)))
  (import "wasmhot" "receive" (func $receive (param i32 i32 i32) (result i32)))
  (import "wasmhot" "state" (func $state (param i32 i32) (result i32)))
  (import "wasmhot" "set_state" (func $set_state (param i32 i32)))
  (import "wasmhot" "continue" (func $continue (param i32 i32)))
  (import "wasmhot" "log" (func $log (param i32 i32)))
  (import "wasmhot" "sleep" (func $sleep (param i32)))
  (import "wasmhot" "call_bytes" (func $call_bytes (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "r=")
  (data (i32.const 32) "a")
  (data (i32.const 40) "run")
  (data (i32.const 48) "hello")
  (data (i32.const 64) "nope")
  (data (i32.const 72) "Bad/Name")

  ;; logn logs "r=<n>" (n signed).
  (func $logn (param $n i64)
    (local $len i32) (local $t i64) (local $i i32) (local $neg i32) (local $p i32)
    (local.set $p (i32.const 2))
    (if (i64.lt_s (local.get $n) (i64.const 0))
      (then
        (i32.store8 (i32.const 2) (i32.const 45))
        (local.set $p (i32.const 3))
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
    (call $log (i32.const 0) (i32.add (local.get $p) (local.get $len))))

  ;; receive_small: receive into a 4-byte buffer, log the result, then
  ;; receive again with room and log the message itself.
  (func (export "receive_small")
    (local $n i32)
    (call $logn (i64.extend_i32_s (call $receive (i32.const 1024) (i32.const 4) (i32.const -1))))
    (local.set $n (call $receive (i32.const 1024) (i32.const 1000) (i32.const -1)))
    (call $log (i32.const 1024) (local.get $n)))

  ;; poll: receive with timeout 0 on whatever is there; timeout20: 20 ms.
  (func (export "poll")
    (call $logn (i64.extend_i32_s (call $receive (i32.const 1024) (i32.const 1000) (i32.const 0)))))
  (func (export "timeout20")
    (call $logn (i64.extend_i32_s (call $receive (i32.const 1024) (i32.const 1000) (i32.const 20)))))

  ;; self_send: send "hello" to itself, receive it, log it.
  (func (export "self_send")
    (local $n i32)
    (call $logn (i64.extend_i32_s (call $send (call $self) (i32.const 48) (i32.const 5))))
    (local.set $n (call $receive (i32.const 1024) (i32.const 1000) (i32.const -1)))
    (call $log (i32.const 1024) (local.get $n)))

  ;; spawn_send: spawn a:run, send it "hello"; log the pid's sign and the
  ;; send result; then try spawns that must fail: a:nope (undef), an
  ;; invalid module name and a wild pointer (bad argument).
  (func (export "spawn_send")
    (local $pid i64)
    (local.set $pid (call $spawn (i32.const 32) (i32.const 1) (i32.const 40) (i32.const 3) (i32.const 0) (i32.const 0)))
    (call $logn (i64.extend_i32_u (i64.gt_s (local.get $pid) (i64.const 0))))
    (call $logn (i64.extend_i32_s (call $send (local.get $pid) (i32.const 48) (i32.const 5))))
    (call $logn (call $spawn (i32.const 32) (i32.const 1) (i32.const 64) (i32.const 4) (i32.const 0) (i32.const 0)))
    (call $logn (call $spawn (i32.const 72) (i32.const 8) (i32.const 40) (i32.const 3) (i32.const 0) (i32.const 0)))
    (call $logn (call $spawn (i32.const -1) (i32.const 1) (i32.const 40) (i32.const 3) (i32.const 0) (i32.const 0)))
    (call $logn (i64.extend_i32_s (call $send (i64.const 999999) (i32.const 48) (i32.const 5))))
    (call $logn (i64.extend_i32_s (call $send (local.get $pid) (i32.const 65530) (i32.const 100)))))

  ;; state_roundtrip: log the state, replace it with "hello", log it again.
  (func (export "state_roundtrip")
    (local $n i32)
    (local.set $n (call $state (i32.const 1024) (i32.const 1000)))
    (call $log (i32.const 1024) (local.get $n))
    (call $set_state (i32.const 48) (i32.const 5))
    (local.set $n (call $state (i32.const 1024) (i32.const 1000)))
    (call $log (i32.const 1024) (local.get $n)))

  ;; Hostile calls: each must end only this process, with badarg.
  (func (export "wild_log") (call $log (i32.const 65000) (i32.const 1000)))
  (func (export "negative_len") (call $log (i32.const 0) (i32.const -5)))
  (func (export "wild_receive") (drop (call $receive (i32.const -8) (i32.const 16) (i32.const 0))))
  (func (export "wild_state") (call $set_state (i32.const 70000) (i32.const 1)))
  (func (export "continue_missing") (call $continue (i32.const 64) (i32.const 4)))
  (func (export "continue_bad_type") (call $continue (i32.const 48) (i32.const 5)))
  (func (export "trap") unreachable)
  (func (export "hello") (param i32) (result i32) (local.get 0))
;; spin loops forever without calling the host.
  (func (export "spin") (loop $l (br $l)))

  ;; grow asks for 1000 more pages and logs what memory.grow returned.
  (func (export "grow")
    (call $logn (i64.extend_i32_s (memory.grow (i32.const 1000)))))

  ;; abi calls one import with arguments from the state: nine little-endian
  ;; i32s (which, then up to eight arguments), and logs the result. Used by
  ;; the ABI fuzz test: whatever the arguments, only this process may suffer.
  (func (export "abi")
    (local $w i32)
    (if (i32.lt_s (call $state (i32.const 2048) (i32.const 36)) (i32.const 36))
      (then (return)))
    (local.set $w (i32.rem_u (i32.load (i32.const 2048)) (i32.const 10)))
    (if (i32.eq (local.get $w) (i32.const 0))
      (then (call $logn (call $spawn (i32.load (i32.const 2052)) (i32.load (i32.const 2056))
        (i32.load (i32.const 2060)) (i32.load (i32.const 2064)) (i32.load (i32.const 2068)) (i32.load (i32.const 2072)))) (return)))
    (if (i32.eq (local.get $w) (i32.const 1))
      (then (call $logn (i64.extend_i32_s (call $send (i64.extend_i32_s (i32.load (i32.const 2052)))
        (i32.load (i32.const 2056)) (i32.load (i32.const 2060))))) (return)))
    (if (i32.eq (local.get $w) (i32.const 2))
      (then (call $logn (i64.extend_i32_s (call $receive (i32.load (i32.const 2052)) (i32.load (i32.const 2056)) (i32.const 0)))) (return)))
    (if (i32.eq (local.get $w) (i32.const 3))
      (then (call $logn (i64.extend_i32_s (call $state (i32.load (i32.const 2052)) (i32.load (i32.const 2056))))) (return)))
    (if (i32.eq (local.get $w) (i32.const 4))
      (then (call $set_state (i32.load (i32.const 2052)) (i32.load (i32.const 2056))) (return)))
    (if (i32.eq (local.get $w) (i32.const 5))
      (then (call $continue (i32.load (i32.const 2052)) (i32.load (i32.const 2056))) (return)))
    (if (i32.eq (local.get $w) (i32.const 6))
      (then (call $log (i32.load (i32.const 2052)) (i32.load (i32.const 2056))) (return)))
    (if (i32.eq (local.get $w) (i32.const 7))
      (then (call $sleep (i32.rem_u (i32.load (i32.const 2052)) (i32.const 5))) (return)))
    (if (i32.eq (local.get $w) (i32.const 8))
      (then (call $logn (i64.extend_i32_s (call $call_bytes (i32.load (i32.const 2052)) (i32.load (i32.const 2056))
        (i32.load (i32.const 2060)) (i32.load (i32.const 2064)) (i32.load (i32.const 2068)) (i32.load (i32.const 2072))
        (i32.load (i32.const 2076)) (i32.load (i32.const 2080))))) (return)))
    (call $logn (call $self)))
)
