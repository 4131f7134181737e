;; bench_b: the callee of the benchmarks in host/bench_test.go. Loaded into
;; wasmhot as module "b"; also instantiated directly by the raw wazero
;; floors. f and inc are two copies of x+1: f is the target of external
;; calls, inc of Go calls.
(module
  (func (export "f") (param $x i32) (result i32)
    (i32.add (local.get $x) (i32.const 1)))
  (func (export "inc") (param $x i32) (result i32)
    (i32.add (local.get $x) (i32.const 1)))
)
