// Kernels that test the shim itself (not part of the GPU path): barrier semantics and the report
// of a barrier that only some threads reach.
#include "shim.h"

namespace {
// Each thread writes its index to shared memory, waits, then reads its mirror's: wrong without a
// real barrier. Two rounds, so shared memory is reused across barriers and blocks.
__global__ void mirror(int* out) {
    __shared__ int sh[1024];
    const unsigned t = threadIdx.x, n = blockDim.x;
    sh[t] = (int)(blockIdx.x * 10000 + t);
    __syncthreads();
    const int a = sh[n - 1 - t];
    __syncthreads();
    sh[t] = a + 1;
    __syncthreads();
    out[blockIdx.x * n + t] = sh[n - 1 - t];
}

// Thread 0 returns early while the others wait at a barrier: undefined on a GPU.
__global__ void diverge(int* out) {
    if (threadIdx.x == 0) return;
    __syncthreads();
    out[threadIdx.x] = 1;
}
}  // namespace

extern "C" {
int deepcrl_cpu_selftest_mirror(unsigned grid, unsigned block, int* out) {
    return shim::run(grid, block, [=] { mirror(out); });
}
int deepcrl_cpu_selftest_diverge(unsigned block, int* out) {
    return shim::run(1, block, [=] { diverge(out); });
}
}
