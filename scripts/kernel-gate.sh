#!/usr/bin/env bash
# The GPU kernels' compile gate (issue 16, item 3a), on any machine, GPU or not: compiles the kernel
# program with NVRTC 13.0 (as the CUDA path does at run time) for sm_80 and sm_90, assembles it with
# ptxas, and fails on a register spill, a missing kernel or PTX newer than a CUDA 13.0 driver takes.
# The registers / shared memory table it prints is kept in docs/gpu.md between the kernel-gate markers.
#
#   scripts/kernel-gate.sh            run the gate and rewrite the table in docs/gpu.md
#   scripts/kernel-gate.sh --check    run the gate and fail if docs/gpu.md's table is out of date (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-write}
case "$mode" in write | --check) ;; *) echo "usage: scripts/kernel-gate.sh [--check]" >&2; exit 2 ;; esac

[ -f .tools/cuda/env.sh ] || bash scripts/cuda-toolchain.sh
# shellcheck source=/dev/null
source .tools/cuda/env.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cargo run -q -p kernels --example emit -- "$tmp/kernels.cu" >"$tmp/emit.txt"
# NVRTC loads its builtins library from the same folder at compile time.
LD_LIBRARY_PATH="$CUDA_HOME/lib" python3 scripts/kernel_gate.py \
  "$tmp/kernels.cu" "$tmp/emit.txt" "$CUDA_HOME/lib/libnvrtc.so.13" "$CUDA_HOME/bin/ptxas" >"$tmp/table.md"
cat "$tmp/table.md"

doc=docs/gpu.md
python3 - "$doc" "$tmp/table.md" "$tmp/new.md" <<'PY'
import sys
doc, table, out = (open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3])
begin, end = "<!-- kernel-gate:begin -->\n", "<!-- kernel-gate:end -->"
if begin not in doc or end not in doc:
    sys.exit(f"{sys.argv[1]}: no kernel-gate markers")
head, rest = doc.split(begin, 1)
open(out, "w").write(head + begin + table + rest[rest.index(end):])
PY
if [ "$mode" = --check ]; then
  if ! diff -u "$doc" "$tmp/new.md"; then
    echo "kernel gate: $doc's table is out of date; run scripts/kernel-gate.sh and commit it" >&2
    exit 1
  fi
else
  cp "$tmp/new.md" "$doc"
fi
echo "kernel gate: ok"
