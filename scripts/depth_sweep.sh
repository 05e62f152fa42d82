#!/usr/bin/env bash
# Depth-scaling experiment: trains one environment at several depths with the same budget and seeds,
# then draws success rate and the critic-topology metric against depth, with between-seed 95% intervals
# (train/examples/sweep_plot.rs).
#
#   scripts/depth_sweep.sh [--env NAME] [--depths "4 8 16"] [--seeds "0 1"] [--steps N] [--out DIR]
#                          [-- TRAIN FLAGS...]
#
#   --env     environment (default point_big_maze)
#   --depths  depths to train, each a multiple of 4 (default "4 8 16")
#   --seeds   seeds per depth (default "0 1")
#   --steps   environment steps per run (default 300000)
#   --out     sweep directory (default runs/sweep-<env> in the repository); run D, S goes to DIR/d<D>-s<S>
#   -- ...    passed to every train run, e.g. -- --episode-length 1000 --random-starts true
#             (not --env, --depth, --seed, --total-env-steps, --out or --resume: the script sets those)
#
# Writes DIR/depth_sweep.png, DIR/sweep.json and DIR/sweep.md (each seed's finals, per depth).
# Re-running the same command continues an interrupted sweep: a run whose eval.json shows the full
# budget is skipped, one with a checkpoint is resumed, any other is started afresh. A larger --steps
# continues finished runs toward the new budget. RAYON_NUM_THREADS (default 2) sets the environment threads.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
env=point_big_maze
depths="4 8 16"
seeds="0 1"
steps=300000
out=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "depth_sweep.sh: $*" >&2; exit 2; }
need() { [ $# -ge 2 ] || die "$1 needs a value (see --help)"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --env) need "$@"; env=$2; shift 2 ;;
    --depths) need "$@"; depths=$2; shift 2 ;;
    --seeds) need "$@"; seeds=$2; shift 2 ;;
    --steps) need "$@"; steps=$2; shift 2 ;;
    --out) need "$@"; out=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
extra=("$@")

# Checked here, before the build, so a typo fails in a second rather than after compiling.
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
is_uint "$steps" && [ "$steps" -gt 0 ] || die "--steps '$steps' is not a positive integer"
[ -n "${depths// /}" ] || die "--depths is empty"
[ -n "${seeds// /}" ] || die "--seeds is empty"
for d in $depths; do
  is_uint "$d" && [ "$d" -gt 0 ] && [ $((d % 4)) -eq 0 ] || die "depth '$d' is not a positive multiple of 4"
done
for s in $seeds; do is_uint "$s" || die "seed '$s' is not a non-negative integer"; done
for a in ${extra[@]+"${extra[@]}"}; do
  case "$a" in
    --env | --env=* | --depth | --depth=* | --seed | --seed=* | --total-env-steps | --total-env-steps=* | \
      --out | --out=* | --resume)
      die "'$a' after -- would fight the sweep's own setting; use the script's options instead" ;;
  esac
done
# Relative --out is relative to where the script was called from; the default lives in the repository.
out=${out:-$repo/runs/sweep-$env}

export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-2}
target=${CARGO_TARGET_DIR:-$repo/target}
cargo build --release --manifest-path "$repo/Cargo.toml" -p train --bins --examples
train="$target/release/train"
mkdir -p "$out"

# env_steps of a run's last evaluation (empty if it has none): the first "env_steps" in eval.json is
# metrics.env_steps (the report holds no such key).
evaluated_steps() {
  [ -f "$1/eval.json" ] || return 0
  grep -m1 -o '"env_steps": *[0-9]*' "$1/eval.json" | grep -o '[0-9]*$' || true
}

for d in $depths; do
  for s in $seeds; do
    run="$out/d$d-s$s"
    done_steps=$(evaluated_steps "$run")
    if [ -n "$done_steps" ] && [ "$done_steps" -ge "$steps" ]; then
      echo "== d$d-s$s: finished ($done_steps env steps), skipped"
      continue
    fi
    resume=()
    if [ -f "$run/train_state.safetensors" ]; then
      resume=(--resume)
      echo "== d$d-s$s: continuing from ${done_steps:-its checkpoint} toward $steps env steps"
    else
      echo "== d$d-s$s: training for $steps env steps"
    fi
    rc=0
    # Equal budgets: no run stops early on the stop rule (unless the extra flags set --patience).
    stop=(--patience 0)
    case " ${extra[*]-} " in *" --patience"*) stop=() ;; esac
    "$train" --env "$env" --depth "$d" --seed "$s" --total-env-steps "$steps" --out "$run" \
      ${stop[@]+"${stop[@]}"} ${resume[@]+"${resume[@]}"} ${extra[@]+"${extra[@]}"} || rc=$?
    if [ "$rc" -ne 0 ]; then
      echo "depth_sweep.sh: run d$d-s$s stopped (exit $rc); run the same command again to continue" >&2
      exit "$rc"
    fi
  done
done

"$target/release/examples/sweep_plot" "$out"
