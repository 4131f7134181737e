#!/usr/bin/env bash
# Builds the guests written in Go and C into wasm-langs/ (or into $OUT):
#
#   go_NAME_vN.wasm   from go/NAME (and httpplugin/plugin), v2 with -tags v2
#                     (go_hotserver_v1..3, tagged 1.0.0..3.0.0; go_hotclient)
#   c_NAME_vN.wasm    from c/NAME.c, with -DVSN=N (c_server_v1..3)
#
# and records the toolchains in wasm-langs/TOOLCHAINS. Needs Go and clang +
# wasm-ld (installed with apt-get when missing). Both builds are
# reproducible: the same toolchains make the same bytes on any machine and in
# any directory (Go: -trimpath -buildvcs=false; C: no paths, no debug info).
#
#   build-langs.sh            build everything
#   build-langs.sh go|c       build one language
set -euo pipefail
cd "$(dirname "$0")"
out=${OUT:-wasm-langs}
what=${1:-all}
mkdir -p "$out"

have_c() { command -v clang >/dev/null && command -v wasm-ld >/dev/null; }
if [[ $what != go ]] && ! have_c; then
  echo "build-langs.sh: installing clang and lld" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq clang lld >/dev/null
fi

gover=$(go env GOVERSION)
clangver=$(have_c && clang --version | head -1 || echo none)

if [[ $what != c ]]; then
  gobuild() { # package dir, output, extra flags
    local pkg=$1 o=$2
    shift 2
    GOOS=wasip1 GOARCH=wasm GOWASM= GOFLAGS= CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w -buildid=' \
      -buildmode=c-shared "$@" -o "$o" "$pkg"
  }
  for name in test test2 hotfix; do
    gobuild "./go/$name" "$out/go_${name}_v1.wasm"
    gobuild "./go/$name" "$out/go_${name}_v2.wasm" -tags v2
  done
  gobuild ./httpplugin/plugin "$out/go_httpplugin_v1.wasm"
  gobuild ./httpplugin/plugin "$out/go_httpplugin_v2.wasm" -tags v2
  # The gen_server example: three versions, named by a wasmhot.vsn section
  # (Go's linker writes no custom sections: wasmhot vsn appends it).
  gobuild ./go/hotclient "$out/go_hotclient.wasm"
  for v in 1 2 3; do
    tags=; [[ $v != 1 ]] && tags=v$v
    gobuild ./go/hotserver "$out/go_hotserver_v$v.wasm" -tags "$tags"
    f="$(cd "$out" && pwd)/go_hotserver_v$v.wasm"
    (cd .. && go run ./cmd/wasmhot vsn "$f" "$v.0.0" >/dev/null)
  done
fi

if [[ $what != go ]]; then
  for src in c/*.c; do
    name=$(basename "$src" .c)
    versions="1 2"
    [[ $name == server ]] && versions="1 2 3" # the gen_server: upgraded twice
    for v in $versions; do
      clang --target=wasm32 -O2 -nostdlib -mbulk-memory -Wall -Wextra -Werror -DVSN="$v" \
        -Wl,--no-entry -Wl,--strip-all -o "$out/c_${name}_v$v.wasm" "$src"
    done
  done
fi

chmod 644 "$out"/*.wasm
printf 'go %s\nclang %s\n' "$gover" "$clangver" > "$out/TOOLCHAINS"
echo "built $what guests into $(cd "$out" && pwd) ($gover; $clangver)"
