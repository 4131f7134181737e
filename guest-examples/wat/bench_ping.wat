;; bench_ping: message round trips between two processes of this module
;; (host/bench_test.go, BenchmarkMessageRoundTrip). The raw wazero floor
;; runs the same bytes with its own "wasmhot" host module.
;;
;; Message, 64 bytes: [sender pid i64][seq i64][stop flag i64][zeros].
;;
;;   ping()  state = the ponger's pid (i64). Receives a start message with
;;           n (i64), then n times: send a message to the ponger, receive its
;;           echo and check it; finally sends a stop message.
;;   pong()  receives messages and echoes each to the pid in it, until a stop.
(module
  (import "wasmhot" "self" (func $self (result i64)))
  (import "wasmhot" "send" (func $send (param i64 i32 i32) (result i32)))
  (import "wasmhot" "receive" (func $receive (param i32 i32 i32) (result i32)))
  (import "wasmhot" "state" (func $state (param i32 i32) (result i32)))
  (memory (export "memory") 1)

  (func (export "ping")
    (local $to i64) (local $n i64) (local $i i64)
    (if (i32.ne (call $state (i32.const 0) (i32.const 8)) (i32.const 8))
      (then unreachable))
    (local.set $to (i64.load (i32.const 0)))
    (if (i32.ne (call $receive (i32.const 8) (i32.const 8) (i32.const -1)) (i32.const 8))
      (then unreachable))
    (local.set $n (i64.load (i32.const 8)))
    (i64.store (i32.const 64) (call $self))
    (i64.store (i32.const 80) (i64.const 0))
    (block $done
      (loop $l
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (i64.store (i32.const 72) (local.get $i))
        (if (call $send (local.get $to) (i32.const 64) (i32.const 64))
          (then unreachable))
        (if (i32.ne (call $receive (i32.const 128) (i32.const 64) (i32.const -1)) (i32.const 64))
          (then unreachable))
        (if (i64.ne (i64.load (i32.const 136)) (local.get $i))
          (then unreachable))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $l)))
    (i64.store (i32.const 80) (i64.const 1))
    (drop (call $send (local.get $to) (i32.const 64) (i32.const 64))))

  (func (export "pong")
    (local $len i32)
    (loop $l
      (local.set $len (call $receive (i32.const 256) (i32.const 64) (i32.const -1)))
      (if (i32.ne (local.get $len) (i32.const 64))
        (then unreachable))
      (if (i64.eqz (i64.load (i32.const 272)))
        (then
          (drop (call $send (i64.load (i32.const 256)) (i32.const 256) (local.get $len)))
          (br $l)))))
)
