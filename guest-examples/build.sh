#!/usr/bin/env bash
# Builds every guest in wat/ into wasm/ with wat2wasm (Debian: apt-get install wabt).
# Templates (*.wat.in) are expanded per version first; see the comments in each.
set -euo pipefail
cd "$(dirname "$0")"
command -v wat2wasm >/dev/null || { echo "build.sh: wat2wasm not found (apt-get install -y wabt)" >&2; exit 1; }
out=wasm
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
mkdir -p "$out"

expand() { # template version text
  local t=$1 v=$2 text=${3:-}
  # Lines starting ";;onlyN " exist only in version N.
  sed -e "s/^;;only$v //" -e '/^;;only[0-9] /d' -e "s/@V@/$v/g" -e "s/@TEXT@/$text/g" -e "s/@LEN@/${#text}/g" "wat/$t.wat.in"
}

for v in 1 2 3; do
  expand counter "$v" > "$gen/counter_v$v.wat"
  expand a_loop "$v" > "$gen/a_loop_v$v.wat"
  expand sys "$v" > "$gen/sys_v$v.wat"
done
for v in 1 2; do
  for t in test2 e_mod cb g_a g_b; do
    expand "$t" "$v" > "$gen/${t}_v$v.wat"
  done
done
expand test 1 "this is old code" > "$gen/test_v1.wat"
expand test 2 "this is new code" > "$gen/test_v2.wat"
cp wat/*.wat "$gen/"

for f in "$gen"/*.wat; do
  n=$(basename "$f" .wat)
  wat2wasm "$f" -o "$out/$n.wasm"
done
echo "built $(ls "$out" | wc -l) modules into $(pwd)/$out"
