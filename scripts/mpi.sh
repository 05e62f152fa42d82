#!/usr/bin/env bash
# Installs what `--features mpi` needs (issue 28): Debian's Open MPI (libopenmpi-dev, openmpi-bin:
# mpirun, mpicc and the library the `mpi` crate links) and libclang-dev (the crate's bindgen reads
# mpi.h). Idempotent: does nothing when they are there. About 15 s on a fresh Debian 12 machine.
#
#   scripts/mpi.sh
#   cargo build --release -p train --features mpi
#   mpirun -np 2 target/release/train --distributed mpi --threads 1 ...
#
# Another MPI works as well (MPICH, or a cluster's own module): the `mpi` crate finds it through
# mpicc or pkg-config. Needs root for apt-get; on a cluster, load the MPI module instead.
set -euo pipefail
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for pkg in libopenmpi-dev openmpi-bin libclang-dev; do have "$pkg" || missing+=("$pkg"); done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "scripts/mpi.sh: installing ${missing[*]} needs root (or: sudo $0)" >&2; exit 2; }
  echo "scripts/mpi.sh: installing ${missing[*]} from Debian" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
echo "scripts/mpi.sh: $(mpirun --version 2>&1 | head -1); libclang $(dpkg-query -W -f='${Version}' libclang-dev)" >&2
