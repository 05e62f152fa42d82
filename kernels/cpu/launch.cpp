// The kernels of kernels/cuda, compiled for the CPU from the same text, and one C launcher each.
// Each launcher takes the launch geometry (grid and block x) the GPU launch would use, then the
// kernel's own arguments in order; it returns shim::launch's code.
#include "shim.h"

#include "../cuda/common.cuh"
#include "../cuda/norm.cu"
#include "../cuda/adam.cu"

extern "C" {
const char* deepcrl_cpu_last_error() { return shim::last_error(); }

int deepcrl_cpu_ln_silu_forward(unsigned grid, unsigned block, float* z, const float* bias, const float* gamma,
                                const float* beta, float* rstd, float* act, int rows, int width) {
    return shim::run(grid, block, [=] { ln_silu_forward(z, bias, gamma, beta, rstd, act, rows, width); });
}

int deepcrl_cpu_ln_silu_backward(unsigned grid, unsigned block, float* d, const float* nhat, const float* rstd,
                                 const float* gamma, const float* beta, float* partial, int rows, int width,
                                 int rows_per_block) {
    return shim::run(grid, block,
               [=] { ln_silu_backward(d, nhat, rstd, gamma, beta, partial, rows, width, rows_per_block); });
}

int deepcrl_cpu_sum_partials(unsigned grid, unsigned block, const float* partial, float* out, int blocks, int n) {
    return shim::run(grid, block, [=] { sum_partials(partial, out, blocks, n); });
}

int deepcrl_cpu_adam_tick(unsigned grid, unsigned block, float* state, float beta1, float beta2) {
    return shim::run(grid, block, [=] { adam_tick(state, beta1, beta2); });
}

int deepcrl_cpu_adam_step(unsigned grid, unsigned block, float* params, const float* grads, float* m, float* v,
                          const float* state, long long n, float lr, float beta1, float beta2, float eps) {
    return shim::run(grid, block, [=] { adam_step(params, grads, m, v, state, n, lr, beta1, beta2, eps); });
}
}
