#!/usr/bin/env bash
# Env steps/s through the Gymnasium bridge against the same vector env stepped from Python alone
# (issue 27), at 1, 16 and 64 environments of PointMaze_UMaze-v3 and AntMaze_UMaze-v5, one thread:
#   bash scripts/gym-speed.sh [SECONDS]      (default 3 s a case; about 3 minutes in all)
# Needs scripts/gym.sh. The bench is `cargo bench -p envs --features gym --bench envs -- gym`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-3}"
bash scripts/gym.sh >/dev/null
# shellcheck source=/dev/null
source .tools/gym/env.sh
export RAYON_NUM_THREADS=1
grep -m1 "model name" /proc/cpuinfo
grep -qw avx512f /proc/cpuinfo && echo "AVX-512: yes" || echo "AVX-512: no"
cargo bench -q -p envs --features gym --bench envs -- gym --warm-up-time 1 --measurement-time "$seconds" >&2
"$VIRTUAL_ENV/bin/python" scripts/gym_speed.py PointMaze_UMaze-v3:1,16,64 AntMaze_UMaze-v5:1,16,64 --seconds "$seconds"
