;; Declares 4 GiB of memory: over any configured limit, refused at load.
(module
  (memory (export "memory") 65536)
  (func (export "version") (result i32) (i32.const 9)))
