// Runs CUDA C kernels written in the portable subset of kernels/cuda/common.cuh on the CPU.
//
// A launch runs the grid's blocks one after another on the calling thread. Inside a block every
// CUDA thread is a fiber (ucontext) with its own stack; __syncthreads() switches back to the
// scheduler, which resumes the fibers in thread order once all of them have arrived. So barriers,
// shared memory (a static thread-local array: one per OS thread, reused block after block) and
// per-thread registers behave as on a GPU, and a kernel whose threads disagree about a barrier
// (some return, others wait) is reported instead of hanging.
#pragma once

#include <math.h>
#include <string.h>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace shim {
extern thread_local dim3 thread_idx, block_idx, block_dim, grid_dim;
void sync_threads();
// Runs body() once per CUDA thread of grid × block. Returns 0, or a negative code with a message
// in last_error(): -1 a barrier reached by only some threads, -2 a bad launch configuration.
int launch(dim3 grid, dim3 block, void (*body)(void*), void* ctx);
const char* last_error();

// launch() for a one-dimensional grid of one-dimensional blocks running the closure `f`.
template <class F>
int run(unsigned grid, unsigned block, F f) {
    return launch(dim3{grid, 1, 1}, dim3{block, 1, 1}, [](void* p) { (*static_cast<F*>(p))(); }, &f);
}
}  // namespace shim

#define threadIdx (shim::thread_idx)
#define blockIdx (shim::block_idx)
#define blockDim (shim::block_dim)
#define gridDim (shim::grid_dim)
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static thread_local
#define __restrict__ __restrict
#define __syncthreads() shim::sync_threads()

// CUDA's device library names, for the kernels' calls (expf, sqrtf, pow come from math.h).
inline float __int_as_float(int i) {
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
