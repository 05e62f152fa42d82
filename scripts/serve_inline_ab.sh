#!/usr/bin/env bash
# A/B of the controller's inline path: runs robot-sim (16 robots × 200 Hz, controller and hierarchical
# modes) against the server with --inline-max-rows 0 (every request through the batcher thread) and
# with the default 8, one after the other, and prints both tables. Run it on a quiet machine.
#
#   scripts/serve_inline_ab.sh PLANNER_RUN CONTROLLER_DIR [ENV] [EPISODES] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
planner=${1:?usage: $0 PLANNER_RUN CONTROLLER_DIR [ENV] [EPISODES] [OUT_DIR]}
controller=${2:?usage: $0 PLANNER_RUN CONTROLLER_DIR [ENV] [EPISODES] [OUT_DIR]}
env=${3:-point_u_maze_eval}
episodes=${4:-32}
out=${5:-${TMPDIR:-/tmp}/serve_inline_ab}
mkdir -p "$out"
cargo build --release -q -p serve -p robot --bins
for inline in 0 8; do
  target/release/serve --planner "$planner" --controller "$controller" --addr 127.0.0.1:8090 \
    --inline-max-rows "$inline" >"$out/serve_inline$inline.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do curl -sf http://127.0.0.1:8090/readyz >/dev/null && break; sleep 0.2; done
  target/release/robot-sim --server http://127.0.0.1:8090 --env "$env" --robots 16 --control-hz 200 \
    --mode controller --mode hierarchical --episodes "$episodes" >"$out/sim_inline$inline.json" 2>"$out/sim_inline$inline.txt"
  kill -INT "$pid"
  wait "$pid" || true
  echo "== --inline-max-rows $inline"
  grep -A2 '^mode' "$out/sim_inline$inline.txt"
done
