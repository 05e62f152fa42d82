#!/usr/bin/env bash
# The session stream against HTTP, and the student on board against hierarchical mode (issue 25), on
# loopback with server and robots side by side. Starts `serve` on PLANNER_RUN and CONTROLLER_DIR, then
# runs robot-sim:
#   1. success: hierarchical over HTTP, hierarchical over the stream, onboard (16 robots × 200 Hz);
#   2. latency: one robot at 1,000 Hz, HTTP and stream; 16 robots at 500 Hz, HTTP and stream.
# Each run's table and JSON go to OUT_DIR (default /tmp/stream_bench); the tables are printed. Run it on
# a quiet machine: these are real-time loops. SUCCESS_ONLY=1 stops after the three success runs.
#
#   scripts/stream_bench.sh PLANNER_RUN CONTROLLER_DIR [ENV] [EPISODES] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: $0 PLANNER_RUN CONTROLLER_DIR [ENV] [EPISODES] [OUT_DIR]"
planner=${1:?$usage}
controller=${2:?$usage}
env=${3:-point_u_maze_eval}
episodes=${4:-96}
out=${5:-${TMPDIR:-/tmp}/stream_bench}
mkdir -p "$out"
cargo build --release -q -p serve -p robot --bins
url=http://127.0.0.1:8091
target/release/serve --planner "$planner" --controller "$controller" --addr 127.0.0.1:8091 >"$out/serve.log" 2>&1 &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "$url/readyz" >/dev/null || { echo "the server did not become ready: $out/serve.log" >&2; exit 1; }

sim() { # NAME ARGS...: one robot-sim run, its table printed
  local name=$1
  shift
  target/release/robot-sim --server "$url" --env "$env" "$@" >"$out/$name.json" 2>"$out/$name.txt"
  echo "== $name: robot-sim $*"
  grep -v '^warning' "$out/$name.txt"
}
sim success-16x200 --robots 16 --control-hz 200 --episodes "$episodes" --mode hierarchical
sim success-16x200-ws --robots 16 --control-hz 200 --episodes "$episodes" --mode hierarchical --transport ws
sim success-16x200-onboard --robots 16 --control-hz 200 --episodes "$episodes" --mode onboard --student "$controller"
[ "${SUCCESS_ONLY:-0}" = 1 ] && exit 0
sim latency-1x1000-http --robots 1 --control-hz 1000 --episodes 8 --mode hierarchical
sim latency-1x1000-ws --robots 1 --control-hz 1000 --episodes 8 --mode hierarchical --transport ws
sim latency-16x500-http --robots 16 --control-hz 500 --episodes 48 --mode hierarchical
sim latency-16x500-ws --robots 16 --control-hz 500 --episodes 48 --mode hierarchical --transport ws
