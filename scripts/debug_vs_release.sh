#!/usr/bin/env bash
# What a debug build costs each stage (issue 30): the same small workload per stage binary, built by the
# dev profile (what `cargo run -p NAME` builds) and by the release profile, one after the other on a
# quiet machine. Prints one line per stage and writes target/debug-vs-release/results.json; the figures
# each binary's warning quotes come from here (docs/performance.md, "Debug and release builds").
#
#   bash scripts/debug_vs_release.sh            # about 12 minutes on 2 vCPUs, most of it the debug train
#
# Workloads: train, the default recipe for 64k env steps (no stop rule); distill, a depth-4 student of
# that teacher for 2,000 steps; prune, that teacher to half its width with 300 healing steps (the
# default recipe has one residual block, so none to drop); serve, 16 robots
# at 200 Hz on the stateless controller (robot-sim release either way), server-side time per act;
# robot-sim, the same fleet against a release server, achieved rate and missed ticks.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/debug-vs-release
rm -rf "$out"
mkdir -p "$out"
export RAYON_NUM_THREADS=2 CANDLE_NUM_THREADS=2 RUST_LOG=warn
bins=(-p train -p distill -p prune -p serve -p robot --bins)
cargo build -q "${bins[@]}"
cargo build -q --release "${bins[@]}"

seconds() { # seconds COMMAND...: wall time of COMMAND, its output in $out/log
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >>"$out/log" 2>&1 || { echo "failed: $* (see $out/log)" >&2; return 1; }
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}

declare -A t
for p in debug release; do
  t[train_$p]=$(seconds target/$p/train --total-env-steps 64000 --patience 0 --out "$out/$p-teacher")
done
teacher=$out/release-teacher
for p in debug release; do
  t[distill_$p]=$(seconds target/$p/distill --teacher "$teacher" --student-depth 4 --steps 2000 --no-baseline \
    --eval-episodes 16 --curve-eval-episodes 0 --out "$out/$p-student")
  t[prune_$p]=$(seconds target/$p/prune --model "$teacher" --width-ratio 0.5 --heal-steps 300 --no-heal-curve \
    --curve-episodes 4 --eval-episodes 16 --out "$out/$p-pruned")
done

fleet() { # fleet SERVE_PROFILE ROBOT_PROFILE: the robot-sim JSON report of one controller-mode fleet
  local port=18931 pid report
  target/$1/serve --planner "$teacher" --controller "$out/release-student" --addr 127.0.0.1:$port >>"$out/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    curl -sf "127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  report=$(target/$2/robot-sim --server http://127.0.0.1:$port --env point_u_maze_eval --robots 16 --control-hz 200 \
    --mode controller --episodes 32 --episode-length 400 2>>"$out/log")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  echo "$report"
}
for s in debug release; do
  fleet "$s" release >"$out/serve-$s.json"
done
fleet release debug >"$out/robot-sim-debug.json"
cp "$out/serve-release.json" "$out/robot-sim-release.json"

server_p50() { jq '.modes[0].server_latency.p50_us' "$1"; }
jq -n \
  --arg cpu "$(lscpu | sed -n 's/^Model name: *//p') ($(nproc) vCPU, $(grep -qw avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2))" \
  --argjson train_debug "${t[train_debug]}" --argjson train_release "${t[train_release]}" \
  --argjson distill_debug "${t[distill_debug]}" --argjson distill_release "${t[distill_release]}" \
  --argjson prune_debug "${t[prune_debug]}" --argjson prune_release "${t[prune_release]}" \
  --slurpfile serve_debug "$out/serve-debug.json" --slurpfile serve_release "$out/serve-release.json" \
  --slurpfile robot_debug "$out/robot-sim-debug.json" \
  '{cpu: $cpu,
    train_s: {debug: $train_debug, release: $train_release},
    distill_s: {debug: $distill_debug, release: $distill_release},
    prune_s: {debug: $prune_debug, release: $prune_release},
    serve: {debug: $serve_debug[0].modes[0], release: $serve_release[0].modes[0]},
    robot_sim: {debug: $robot_debug[0].modes[0], release: $serve_release[0].modes[0]}}' >"$out/results.json"

ratio() { echo "scale=2; $1 / $2" | bc; }
echo "CPU: $(jq -r .cpu "$out/results.json")"
printf '%-10s %12s %12s %8s\n' stage debug release ratio
for s in train distill prune; do
  printf '%-10s %11.1fs %11.1fs %7sx\n' "$s" "${t[${s}_debug]}" "${t[${s}_release]}" "$(ratio "${t[${s}_debug]}" "${t[${s}_release]}")"
done
sd=$(server_p50 "$out/serve-debug.json")
sr=$(server_p50 "$out/serve-release.json")
printf '%-10s %10sus %10sus %7sx  (server-side p50 per act, 16 robots x 200 Hz)\n' serve "$sd" "$sr" "$(ratio "$sd" "$sr")"
for p in debug release; do
  f=$out/robot-sim-$p.json
  echo "robot-sim $p: achieved $(jq '.modes[0].achieved_hz' "$f") Hz, missed $(jq '.modes[0].missed' "$f") of $(jq '.modes[0].requests' "$f") ticks, round trip p50 $(jq '.modes[0].latency.p50_us' "$f") us"
done
