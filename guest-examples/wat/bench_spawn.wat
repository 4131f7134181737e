;; bench_spawn: a process whose entry returns at once (host/bench_test.go,
;; BenchmarkSpawn). One page of exported memory, like a typical guest.
(module
  (memory (export "memory") 1)
  (func (export "start"))
)
