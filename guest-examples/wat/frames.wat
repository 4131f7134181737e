;; frames: recursion that leaves each function by another way, for the
;; rewriter's frame bound (rewrite/frames_test.go): after any of these
;; returns, the frame counter is back where it was.
;;   by_return(n)   return n+... through `return`
;;   by_brif(n)     leaves through a br_if to the body's label
;;   by_table(n)    leaves through a br_table to the body's label (no result)
;;   by_end(n)      falls off the end of the body
;;   by_br(n)       leaves through a br to the body's label
;; Each recurses n deep and returns n (by_table returns nothing).
(module
  (func $by_return (export "by_return") (param $n i32) (result i32)
    (if (i32.eqz (local.get $n)) (then (return (i32.const 0))))
    (return (i32.add (call $by_return (i32.sub (local.get $n) (i32.const 1))) (i32.const 1))))

  (func $by_brif (export "by_brif") (param $n i32) (result i32)
    (br_if 0 (local.get $n) (i32.eqz (local.get $n)))
    (drop)
    (i32.add (call $by_brif (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))

  (func $by_table (export "by_table") (param $n i32)
    (block
      (br_table 1 0 (local.get $n)))
    (call $by_table (i32.sub (local.get $n) (i32.const 1))))

  (func $by_end (export "by_end") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (call $by_end (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))))

  (func $by_br (export "by_br") (param $n i32) (result i32)
    (block
      (br_if 0 (local.get $n))
      (br 1 (i32.const 0)))
    (i32.add (call $by_br (i32.sub (local.get $n) (i32.const 1))) (i32.const 1))))
