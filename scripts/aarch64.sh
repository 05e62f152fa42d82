#!/usr/bin/env bash
# The robot side on ARM64 (issue 29): cross-builds for aarch64-unknown-linux-gnu with Debian's cross
# compiler and runs the tests under qemu-user on this x86 machine. Correctness only: qemu's speed says
# nothing about a real ARM board's.
#
#   bash scripts/aarch64.sh            # installs what it needs (apt, rustup) on first use
#
# It runs, all for aarch64 under qemu: the unit tests of models, envs, robot and serve, models' batch-1
# inference tests, and serve against robot-sim for a short hierarchical episode (serve's live_server
# example on tiny models, robot-sim driving one robot through it).
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu
need=()
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "error: needs ${need[*]} from Debian; run as root or install them" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
export RAYON_NUM_THREADS=2 CANDLE_NUM_THREADS=2

echo "== unit tests under qemu (models, envs, robot, serve)"
cargo test --target "$target" -p models -p envs -p robot -p serve --lib
echo "== models' batch-1 inference tests under qemu"
cargo test --target "$target" -p models --test inference
echo "== serve and robot-sim under qemu, one hierarchical episode"
cargo build --target "$target" -p serve --example live_server -p robot --bin robot-sim
bin=target/$target/debug
qemu="qemu-aarch64 -L /usr/aarch64-linux-gnu"
$qemu "$bin/examples/live_server" sh -c "$qemu $bin/robot-sim --server \"\$DEEPCRL_URL\" --env point_u_maze_eval \
  --mode hierarchical --robots 1 --episodes 1 --episode-length 100 --control-hz 20 >/dev/null"
echo "== aarch64 ok"
