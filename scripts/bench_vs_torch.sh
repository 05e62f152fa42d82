#!/usr/bin/env bash
# Our CRL update step against the PyTorch peer (shared/peers/torch_crl_step.py), same sizes, 2 threads,
# in one run. Installs PyTorch into a throwaway virtualenv (the project itself needs no Python).
#
#   scripts/bench_vs_torch.sh [DEPTH ...]        default depths: 4 16 64 256
#
# Ends with one line per depth:  depth=16 ours_ms=12.3 torch_ms=15.0 ratio=0.82  (ratio = ours / torch)
# Run it on a quiet machine: both thread pools collapse under contention (DESIGN.md section 10).
set -euo pipefail
cd "$(dirname "$0")/.."
depths=("$@")
[ ${#depths[@]} -gt 0 ] || depths=(4 16 64 256)
peer=${TORCH_PEER:-../shared/peers/torch_crl_step.py}
venv=${TORCH_VENV:-${TMPDIR:-/tmp}/deepcrl-torch-venv}
threads=${THREADS:-2}
[ -f "$peer" ] || { echo "PyTorch peer not found at $peer (set TORCH_PEER)" >&2; exit 2; }
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  echo "installing PyTorch into $venv ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch
fi
cargo build --release -q -p models --example bench_step
export RAYON_NUM_THREADS=$threads
summary=()
for d in "${depths[@]}"; do
  ours=$(target/release/examples/bench_step --depth "$d" --threads "$threads" --matmul)
  torch=$("$venv/bin/python" "$peer" --depth "$d" --batch 256 --threads "$threads" 2>/dev/null | tail -n 1)
  echo "$ours"
  echo "$torch"
  o=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ms_per_step"])' "$ours")
  t=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ms_per_step"])' "$torch")
  summary+=("$(python3 -c 'import sys; d,o,t=sys.argv[1:]; print(f"depth={d} ours_ms={float(o):.1f} torch_ms={float(t):.1f} ratio={float(o)/float(t):.2f}")' "$d" "$o" "$t")")
done
printf '%s\n' "${summary[@]}"
