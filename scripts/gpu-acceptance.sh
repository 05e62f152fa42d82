#!/usr/bin/env bash
# Issue 16's GPU acceptance run: one command on a Linux machine with an NVIDIA GPU and driver. It runs
# train/examples/gpu_acceptance (kernel parity GPU vs CPU, graph replay vs eager, one step vs the fused
# CPU path, SGD steps/s with memory and launches at depths 64/256/1024, a short U-maze training run,
# the data-parallel step at one rank over NCCL against the plain step),
# prints one table and writes $OUT/gpu-acceptance.json (OUT defaults to ./gpu-acceptance).
#
#   scripts/gpu-acceptance.sh --build    where Rust is (any x86-64 Linux, no GPU or CUDA needed): builds
#                                        the check, stripped, into .gpu/gpu_acceptance (a few MB) to carry
#   scripts/gpu-acceptance.sh [FLAGS]    on the GPU machine (no Rust needed there); FLAGS go to the check
#                                        (--no-train, --train-steps N, --bench-steps N, --gpu N)
#
# The check loads the driver (libcuda.so.1), NVRTC and cuBLAS 13 at run time; this script finds them in
# the usual places (a CUDA toolkit, the driver's folder, Python's nvidia-* wheels) and puts them on
# LD_LIBRARY_PATH. It stops after 8 minutes; every finished section is already in the JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.gpu/gpu_acceptance

if [ "${1:-}" = --build ]; then
  # nccl: section 6's one-rank NCCL step (libnccl.so.2 is loaded at run time; no MPI is linked).
  cargo build --release -p train --features nccl --example gpu_acceptance
  mkdir -p .gpu
  cp target/release/examples/gpu_acceptance "$bin"
  strip "$bin"
  # The plots the training run draws need fontconfig, freetype and a font; the GPU machine's image
  # may lack them, so a copy travels (used only where the machine has none: last on the path).
  mkdir -p .gpu/lib .gpu/fonts
  ldd "$bin" | awk '$3 ~ /^\// {print $3}' | grep -E 'fontconfig|freetype|expat|libz\.|png|brotli' | xargs -r cp -L -t .gpu/lib
  cp -L "$(fc-match -f '%{file}' sans-serif)" .gpu/fonts/
  printf '<?xml version="1.0"?>\n<fontconfig><dir prefix="relative">fonts</dir><cachedir>/tmp/deepcrl-fontconfig</cachedir></fontconfig>\n' >.gpu/fonts.conf
  echo "built $bin and its plot libraries ($(du -sh .gpu | cut -f1) in .gpu); carry .gpu to the GPU machine" >&2
  exit 0
fi
if [ ! -x "$bin" ]; then
  if command -v cargo >/dev/null; then
    "$0" --build
  else
    echo "no $bin and no cargo here: run scripts/gpu-acceptance.sh --build where Rust is, and carry .gpu" >&2
    exit 2
  fi
fi

# Folders holding each library the check loads, first match wins.
dirs=()
for lib in libcuda.so.1 libnvrtc.so.13 libnvrtc-builtins.so.13.0 libcublas.so.13 libcublasLt.so.13 libnccl.so.2; do
  found=$(find /usr/local/nvidia /usr/local/cuda /usr/local/cuda-13* /usr/lib/x86_64-linux-gnu /opt /usr/local/lib \
    -name "$lib" 2>/dev/null | head -n 1 || true)
  if [ -z "$found" ]; then
    echo "warning: $lib not found; the check will say what is missing" >&2
    continue
  fi
  dirs+=("$(dirname "$found")")
done
path=$(IFS=:; echo "${dirs[*]:-}")
LD_LIBRARY_PATH=${path:+$path:}${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$PWD/.gpu/lib
export LD_LIBRARY_PATH FONTCONFIG_FILE=$PWD/.gpu/fonts.conf
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >&2
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

out=${OUT:-gpu-acceptance}
mkdir -p "$out"
set +e
timeout 480 "$bin" --out "$out" "$@" 2>&1 | tee "$out/gpu-acceptance.log"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 124 ] && echo "stopped at the 8-minute limit; finished sections are in $out/gpu-acceptance.json" >&2
exit "$rc"
