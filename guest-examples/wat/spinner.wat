;; spinner: a process entry that spins inside another module's code, through
;; the external call cpu:spin (host tests: kill and GC while a process runs
;; in a callee instance).
(module
  (import "cpu" "spin" (func $spin))
  (func (export "run") (call $spin)))
