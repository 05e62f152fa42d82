#!/usr/bin/env bash
# The robot side on ARM64 (issue 29): cross-builds for aarch64-unknown-linux-gnu with Debian's cross
# compiler and runs the tests under qemu-user on this x86 machine. Correctness only: qemu's speed says
# nothing about a real ARM board's.
#
#   bash scripts/aarch64.sh            # installs what it needs (apt, rustup) on first use
#
# It runs, all for aarch64 under qemu: the unit tests of models, envs, robot and serve, models' batch-1
# inference tests (the NEON kernel against the exact product among them), and serve against robot-sim:
# a short hierarchical episode over HTTP and one with the student on board, from student.safetensors
# and from student.onnx (tract), following plans over the WebSocket stream (serve's live_server example
# on tiny models, robot-sim driving one robot through it). Last, the robot-side binary's release size.
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
echo "== serve and robot-sim under qemu: hierarchical over HTTP, onboard over the stream"
cargo build --target "$target" -p serve --example live_server
cargo build --target "$target" -p robot --features onnx --bin robot-sim
bin=target/$target/debug
qemu="qemu-aarch64 -L /usr/aarch64-linux-gnu"
sim="$qemu $bin/robot-sim --server \"\$DEEPCRL_URL\" --env point_u_maze_eval --robots 1 --episodes 1 --episode-length 100 --control-hz 20"
$qemu "$bin/examples/live_server" sh -c "$sim --mode hierarchical >/dev/null"
$qemu "$bin/examples/live_server" sh -c "$sim --mode onboard --student \"\$DEEPCRL_STUDENT\" >/dev/null"
$qemu "$bin/examples/live_server" sh -c "$sim --mode onboard --student \"\$DEEPCRL_STUDENT/student.onnx\" >/dev/null"
echo "== robot-sim for aarch64, release, with and without ONNX students (sizes in bytes)"
cargo build --release --target "$target" -p robot --bin robot-sim
cp "target/$target/release/robot-sim" "target/$target/release/robot-sim-safetensors-only"
cargo build --release --target "$target" -p robot --features onnx --bin robot-sim
for b in robot-sim-safetensors-only robot-sim; do
  f=target/$target/release/$b
  echo "$b: $(stat -c %s "$f") ($(aarch64-linux-gnu-strip -o /tmp/stripped-$b "$f" && stat -c %s /tmp/stripped-$b) stripped)"
done
echo "== aarch64 ok"
