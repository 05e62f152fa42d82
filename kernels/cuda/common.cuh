// Helpers shared by every kernel file. The kernels are written in a portable subset of CUDA C so
// the same text also runs on the CPU (kernels/cpu/shim.h): no warp shuffles, no dynamic shared
// memory, no atomics; reductions go through static shared memory and __syncthreads, in a fixed
// order, so a result never depends on scheduling (a CUDA graph replays bit for bit).

// Threads per block of the row kernels; block_sum assumes a power of two no larger than this.
#define DEEPCRL_MAX_BLOCK 1024
// Columns a thread of a row kernel keeps in registers: widths up to 4 × blockDim.x.
#define DEEPCRL_COLS_PER_THREAD 4
// +∞ in both compilers (NVRTC has neither math.h nor GCC builtins).
#define DEEPCRL_INF __int_as_float(0x7f800000)

// The sum of `v` over the block's threads, returned to every thread (float, or double for the loss
// statistics the CPU path accumulates in f64). `sh` is a shared array of at least blockDim.x values,
// free on entry and free again on return.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* sh) {
    const unsigned t = threadIdx.x;
    sh[t] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) sh[t] += sh[t + s];
        __syncthreads();
    }
    const T total = sh[0];
    __syncthreads();
    return total;
}

__device__ __forceinline__ float sigmoidf(float y) { return 1.0f / (1.0f + expf(-y)); }

// The smallest `v` over the block and the first index holding it (ties go to the smaller index,
// as a left-to-right scan finds them). `shv`/`shi` are shared arrays of blockDim.x entries.
__device__ __forceinline__ void block_argmin(float v, int idx, float* shv, int* shi, float* out_v, int* out_i) {
    const unsigned t = threadIdx.x;
    shv[t] = v;
    shi[t] = idx;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) {
            const float o = shv[t + s];
            const int oi = shi[t + s];
            if (o < shv[t] || (o == shv[t] && oi < shi[t])) {
                shv[t] = o;
                shi[t] = oi;
            }
        }
        __syncthreads();
    }
    *out_v = shv[0];
    *out_i = shi[0];
    __syncthreads();
}
