;; chaos: a process for the fault-injection test (host/fault_test.go).
;; Entry run: a loop that receives commands, one per message; the first byte
;; says what to do:
;;   F peer:i64 n:u32  send n counted messages "C" self:i64 to peer
;;   C from:i64        a counted message: recv[from] += 1
;;   P                 spawn a child chaos:run; log "child <handle>"
;;   Q                 log "q" (a barrier: everything sent before is done)
;;   R                 log the counters, one line each, then "end <vsn>":
;;                     "s <peer> <n>" sent, "f <peer> <n>" failed sends,
;;                     "r <from> <n>" received (nonzero entries only)
;;   U                 keep the counters in the state and continue("run"):
;;                     the upgrade point
;;   X                 return: exit normal
;;   T                 trap (unreachable)
;;   S                 spin without calling the host (ends by the budget)
;;   G                 grow memory by 2 pages, then by 1000 (past the
;;                     limit: -1); log "grow <r1> <r2>", then trap
;; The counters live in memory (handles below 512) and go into the state
;; only at U, so a new version's instance starts from them.
;; version() returns the i32 after the marker "VSN!" (tests patch it).
(module
  (import "wasmhot" "self" (func $self (result i64)))
  (import "wasmhot" "spawn" (func $spawn (param i32 i32 i32 i32 i32 i32) (result i64)))
  (import "wasmhot" "send" (func $send (param i64 i32 i32) (result i32)))
  (import "wasmhot" "receive" (func $receive (param i32 i32 i32) (result i32)))
  (import "wasmhot" "state" (func $state (param i32 i32) (result i32)))
  (import "wasmhot" "set_state" (func $set_state (param i32 i32)))
  (import "wasmhot" "continue" (func $continue (param i32 i32)))
  (import "wasmhot" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "run")
  (data (i32.const 8) "chaos")
  (data (i32.const 16) "VSN!\01\00\00\00")
  (data (i32.const 40) "q")
  (data (i32.const 48) "child ")
  (data (i32.const 56) "end ")
  (data (i32.const 64) "grow ")

  ;; 128..191   receive buffer
  ;; 192..200   outgoing counted message
  ;; 256..319   log line scratch
  ;; 4096       sent[512] u32, then fail[512], then recv[512]
  (global $init (mut i32) (i32.const 0))
  (global $me (mut i64) (i64.const 0))

  (func (export "version") (result i32) (i32.load (i32.const 20)))

  ;; fmt writes n (signed) in decimal at p and returns the end.
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

  ;; line logs "<tag> <a> <b>".
  (func $line (param $tag i32) (param $a i64) (param $b i64)
    (local $e i32)
    (i32.store8 (i32.const 256) (local.get $tag))
    (i32.store8 (i32.const 257) (i32.const 32))
    (local.set $e (call $fmt (i32.const 258) (local.get $a)))
    (i32.store8 (local.get $e) (i32.const 32))
    (local.set $e (call $fmt (i32.add (local.get $e) (i32.const 1)) (local.get $b)))
    (call $log (i32.const 256) (i32.sub (local.get $e) (i32.const 256))))

  ;; prefixed logs the text at $p (length $l) followed by n.
  (func $prefixed (param $p i32) (param $l i32) (param $n i64)
    (local $e i32)
    (memory.copy (i32.const 256) (local.get $p) (local.get $l))
    (local.set $e (call $fmt (i32.add (i32.const 256) (local.get $l)) (local.get $n)))
    (call $log (i32.const 256) (i32.sub (local.get $e) (i32.const 256))))

  ;; slot returns the address of table entry h (trap when h is out of range).
  (func $slot (param $table i32) (param $h i64) (result i32)
    (if (i64.ge_u (local.get $h) (i64.const 512)) (then unreachable))
    (i32.add (local.get $table) (i32.shl (i32.wrap_i64 (local.get $h)) (i32.const 2))))

  (func $bump (param $a i32)
    (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1))))

  (func $forward
    (local $peer i64) (local $n i32)
    (local.set $peer (i64.load (i32.const 129)))
    (local.set $n (i32.load (i32.const 137)))
    (i32.store8 (i32.const 192) (i32.const 67))
    (i64.store (i32.const 193) (global.get $me))
    (block $done
      (loop $l
        (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
        (if (i32.eqz (call $send (local.get $peer) (i32.const 192) (i32.const 9)))
          (then (call $bump (call $slot (i32.const 4096) (local.get $peer))))
          (else (call $bump (call $slot (i32.const 6144) (local.get $peer)))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l))))

  (func $report
    (local $h i32) (local $v i32)
    (loop $l
      (local.set $v (i32.load (i32.add (i32.const 4096) (i32.shl (local.get $h) (i32.const 2)))))
      (if (local.get $v)
        (then (call $line (i32.const 115) (i64.extend_i32_u (local.get $h)) (i64.extend_i32_u (local.get $v)))))
      (local.set $v (i32.load (i32.add (i32.const 6144) (i32.shl (local.get $h) (i32.const 2)))))
      (if (local.get $v)
        (then (call $line (i32.const 102) (i64.extend_i32_u (local.get $h)) (i64.extend_i32_u (local.get $v)))))
      (local.set $v (i32.load (i32.add (i32.const 8192) (i32.shl (local.get $h) (i32.const 2)))))
      (if (local.get $v)
        (then (call $line (i32.const 114) (i64.extend_i32_u (local.get $h)) (i64.extend_i32_u (local.get $v)))))
      (local.set $h (i32.add (local.get $h) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $h) (i32.const 512))))
    (call $prefixed (i32.const 56) (i32.const 4) (i64.extend_i32_u (i32.load (i32.const 20)))))

  (func $grow
    (local $a i32)
    (local.set $a (memory.grow (i32.const 2)))
    (call $line (i32.const 103) (i64.extend_i32_s (local.get $a))
      (i64.extend_i32_s (memory.grow (i32.const 1000))))
    unreachable)

  (func (export "run")
    (local $n i32) (local $c i32)
    (if (i32.eqz (global.get $init))
      (then
        (global.set $init (i32.const 1))
        (global.set $me (call $self))
        ;; A state of any other size is not ours: start from zero.
        (if (i32.ne (call $state (i32.const 4096) (i32.const 6144)) (i32.const 6144))
          (then (memory.fill (i32.const 4096) (i32.const 0) (i32.const 6144))))))
    (loop $next
      (local.set $n (call $receive (i32.const 128) (i32.const 64) (i32.const -1)))
      (if (i32.or (i32.lt_s (local.get $n) (i32.const 1)) (i32.gt_s (local.get $n) (i32.const 64)))
        (then unreachable))
      (local.set $c (i32.load8_u (i32.const 128)))
      (if (i32.eq (local.get $c) (i32.const 67)) ;; C
        (then
          (call $bump (call $slot (i32.const 8192) (i64.load (i32.const 129))))
          (br $next)))
      (if (i32.eq (local.get $c) (i32.const 70)) ;; F
        (then (call $forward) (br $next)))
      (if (i32.eq (local.get $c) (i32.const 80)) ;; P
        (then
          (call $prefixed (i32.const 48) (i32.const 6)
            (call $spawn (i32.const 8) (i32.const 5) (i32.const 0) (i32.const 3) (i32.const 0) (i32.const 0)))
          (br $next)))
      (if (i32.eq (local.get $c) (i32.const 81)) ;; Q
        (then (call $log (i32.const 40) (i32.const 1)) (br $next)))
      (if (i32.eq (local.get $c) (i32.const 82)) ;; R
        (then (call $report) (br $next)))
      (if (i32.eq (local.get $c) (i32.const 85)) ;; U
        (then
          (call $set_state (i32.const 4096) (i32.const 6144))
          (call $continue (i32.const 0) (i32.const 3))
          (return)))
      (if (i32.eq (local.get $c) (i32.const 88)) ;; X
        (then (return)))
      (if (i32.eq (local.get $c) (i32.const 84)) ;; T
        (then unreachable))
      (if (i32.eq (local.get $c) (i32.const 83)) ;; S
        (then (loop $spin (br $spin))))
      (if (i32.eq (local.get $c) (i32.const 71)) ;; G
        (then (call $grow)))
      ;; anything else is a bug in the test
      unreachable))
)
