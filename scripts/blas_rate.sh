#!/usr/bin/env bash
# GFLOP/s of f32 sgemm y = x·wᵀ (m×256×256, m = 256 and 1024) through MKL (PyPI `mkl`, via ctypes) and
# OpenBLAS (numpy), on 1 and 2 threads, for choosing the matmul backend (docs/performance.md).
# Installs both into a throwaway virtualenv; the project itself needs neither.
#
#   scripts/blas_rate.sh            BLAS_VENV=... reuses a virtualenv
set -euo pipefail
venv=${BLAS_VENV:-${TMPDIR:-/tmp}/deepcrl-blas-venv}
if ! "$venv/bin/python" -c "import numpy" 2>/dev/null || ! ls "$venv"/lib/libmkl_rt.so* >/dev/null 2>&1; then
  echo "installing numpy and mkl into $venv ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q numpy mkl
fi
for t in 1 2; do
  for which in mkl openblas; do
    MKL_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$venv/bin/python" - "$which" "$t" <<'PY'
import ctypes, glob, os, sys, sysconfig, time
import numpy as np
which, threads = sys.argv[1], sys.argv[2]
def rate(f, m, reps=300):
    for _ in range(30):
        f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    ts.sort()
    return 2 * m * 256 * 256 / ts[len(ts) // 2] / 1e9
for m in (256, 1024):
    x = np.random.rand(m, 256).astype(np.float32)
    w = np.random.rand(256, 256).astype(np.float32)
    y = np.zeros((m, 256), np.float32)
    if which == "mkl":
        root = os.path.join(sysconfig.get_paths()["purelib"], "..", "..")
        lib = ctypes.CDLL(glob.glob(os.path.join(root, "libmkl_rt.so*"))[0])
        p = ctypes.c_void_p
        one, zero = ctypes.c_float(1.0), ctypes.c_float(0.0)
        # CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112
        f = lambda: lib.cblas_sgemm(101, 111, 112, m, 256, 256, one, p(x.ctypes.data), 256,
                                    p(w.ctypes.data), 256, zero, p(y.ctypes.data), 256)
    else:
        f = lambda: np.matmul(x, w.T, out=y)
    print(f"backend={which} threads={threads} m={m} gflops={rate(f, m):.1f}")
PY
  done
done
