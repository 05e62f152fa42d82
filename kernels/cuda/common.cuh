// Helpers shared by every kernel file. The kernels are written in a portable subset of CUDA C so
// the same text also runs on the CPU (kernels/cpu/shim.h): no warp shuffles, no dynamic shared
// memory, no atomics; reductions go through static shared memory and __syncthreads, in a fixed
// order, so a result never depends on scheduling (a CUDA graph replays bit for bit).

// Threads per block of the row kernels; block_sum assumes a power of two no larger than this.
#define DEEPCRL_MAX_BLOCK 1024
// Columns a thread of a row kernel keeps in registers: widths up to 4 × blockDim.x.
#define DEEPCRL_COLS_PER_THREAD 4

// The sum of `v` over the block's threads, returned to every thread. `sh` is a shared array of at
// least blockDim.x floats, free on entry and free again on return.
__device__ __forceinline__ float block_sum(float v, float* sh) {
    const unsigned t = threadIdx.x;
    sh[t] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) sh[t] += sh[t + s];
        __syncthreads();
    }
    const float total = sh[0];
    __syncthreads();
    return total;
}

__device__ __forceinline__ float sigmoidf(float y) { return 1.0f / (1.0f + expf(-y)); }
