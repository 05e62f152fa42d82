#!/usr/bin/env bash
# Peak resident memory of one full CRL SGD step (actor + α + critic, Adam included) at width 256,
# batch 256, for each depth given (default 4 16 64 256 1024). Reads GNU time's "Maximum resident set
# size" of a process that initialises the model and runs exactly one step.
#   scripts/memory_per_depth.sh [depth ...]
set -euo pipefail
cd "$(dirname "$0")/.."
depths=("$@")
[ ${#depths[@]} -eq 0 ] && depths=(4 16 64 256 1024)
cargo build --release -q -p models --example bench_step
for d in "${depths[@]}"; do
  out=$( { /usr/bin/time -v target/release/examples/bench_step --depth "$d" --width 256 --batch 256 \
           --steps 1 --warmup 0 --threads 2 >/dev/null; } 2>&1 )
  kb=$(grep "Maximum resident set size" <<<"$out" | awk '{print $NF}')
  params=$(( 3 * (6 * 256 + 256 + 512 + d * 66304) ))
  echo "depth=$d peak_rss_mib=$((kb / 1024)) approx_params=$params"
done
