// Bias + LayerNorm + SiLU of one trunk layer, forward and backward, on row-major [rows, width]
// buffers (one batch row per sample). The arithmetic is models::fast::norm_act's:
//   u = z + b, n̂ = (u − μ)·r with r = 1/√(var + 1e-6), y = γ·n̂ + β, a = y·σ(y);
// forward saves n̂ (over z) and r; backward recomputes y and σ(y) from n̂.

#define DEEPCRL_LN_EPS 1e-6f

// The mean of a row and r = 1/√(var + ε), from the values this thread holds in u (columns
// threadIdx.x + k·blockDim.x, zero past the width). Every thread of the block must call it.
__device__ __forceinline__ void row_moments(const float* u, int width, float* sh, float& mean, float& r) {
    const int t = threadIdx.x, step = blockDim.x;
    float part = 0.0f;
    for (int k = 0; k < DEEPCRL_COLS_PER_THREAD; ++k) part += u[k];
    const float inv_w = 1.0f / (float)width;
    mean = block_sum(part, sh) * inv_w;
    part = 0.0f;
    for (int k = 0; k < DEEPCRL_COLS_PER_THREAD; ++k) {
        const float c = u[k] - mean;
        if (t + k * step < width) part += c * c;
    }
    r = 1.0f / sqrtf(block_sum(part, sh) * inv_w + DEEPCRL_LN_EPS);
}

// One block per row, blockDim.x a power of two with width <= 4·blockDim.x.
// z [rows, width]: the Linear output without bias, overwritten by n̂; rstd [rows]; act [rows, width].
extern "C" __global__ void ln_silu_forward(float* __restrict__ z, const float* __restrict__ bias,
                                           const float* __restrict__ gamma, const float* __restrict__ beta,
                                           float* __restrict__ rstd, float* __restrict__ act, int rows, int width) {
    __shared__ float sh[DEEPCRL_MAX_BLOCK];
    const int row = blockIdx.x;
    if (row >= rows) return;  // uniform across the block: no thread reaches a barrier alone
    float* zr = z + (long long)row * width;
    float* ar = act + (long long)row * width;
    const int t = threadIdx.x, step = blockDim.x;
    float u[DEEPCRL_COLS_PER_THREAD];
    for (int k = 0; k < DEEPCRL_COLS_PER_THREAD; ++k) {
        const int j = t + k * step;
        u[k] = j < width ? zr[j] + bias[j] : 0.0f;
    }
    float mean, r;
    row_moments(u, width, sh, mean, r);
    if (t == 0) rstd[row] = r;
    for (int k = 0; k < DEEPCRL_COLS_PER_THREAD; ++k) {
        const int j = t + k * step;
        if (j < width) {
            const float n = (u[k] - mean) * r;
            zr[j] = n;
            const float y = gamma[j] * n + beta[j];
            ar[j] = y * sigmoidf(y);
        }
    }
}

// Backward: d [rows, width] holds ∂L/∂a on entry and ∂L/∂z on return. Block b handles rows
// [b·rows_per_block, (b+1)·rows_per_block); with `partial` non-null it writes that block's column
// sums to partial[b, 0..3·width] as the (bias, γ, β) gradients, the order the flat parameter
// buffer keeps them in (models::layout), which sum_partials then adds up over blocks in a fixed
// order (deterministic, unlike atomics) straight into the gradient buffer.
extern "C" __global__ void ln_silu_backward(float* __restrict__ d, const float* __restrict__ nhat,
                                            const float* __restrict__ rstd, const float* __restrict__ gamma,
                                            const float* __restrict__ beta, float* __restrict__ partial, int rows,
                                            int width, int rows_per_block) {
    __shared__ float sh[DEEPCRL_MAX_BLOCK];
    const int t = threadIdx.x, step = blockDim.x;
    const int first = blockIdx.x * rows_per_block;
    const int last = min(first + rows_per_block, rows);
    const float inv_w = 1.0f / (float)width;
    float g_gamma[DEEPCRL_COLS_PER_THREAD], g_beta[DEEPCRL_COLS_PER_THREAD], g_bias[DEEPCRL_COLS_PER_THREAD];
    for (int k = 0; k < DEEPCRL_COLS_PER_THREAD; ++k) g_gamma[k] = g_beta[k] = g_bias[k] = 0.0f;
    for (int row = first; row < last; ++row) {
        float* dr = d + (long long)row * width;
        const float* nr = nhat + (long long)row * width;
        float dn[DEEPCRL_COLS_PER_THREAD], n[DEEPCRL_COLS_PER_THREAD];
        float s_dn = 0.0f, s_dnn = 0.0f;
        for (int k = 0; k < DEEPCRL_COLS_PER_THREAD; ++k) {
            const int j = t + k * step;
            dn[k] = n[k] = 0.0f;
            if (j < width) {
                n[k] = nr[j];
                const float y = gamma[j] * n[k] + beta[j];
                const float s = sigmoidf(y);
                const float dy = dr[j] * s * (1.0f + y * (1.0f - s));
                g_gamma[k] += dy * n[k];
                g_beta[k] += dy;
                dn[k] = dy * gamma[j];
                s_dn += dn[k];
                s_dnn += dn[k] * n[k];
            }
        }
        const float mean_dn = block_sum(s_dn, sh) * inv_w;
        const float mean_dnn = block_sum(s_dnn, sh) * inv_w;
        const float r = rstd[row];
        for (int k = 0; k < DEEPCRL_COLS_PER_THREAD; ++k) {
            const int j = t + k * step;
            if (j < width) {
                const float dz = r * (dn[k] - mean_dn - n[k] * mean_dnn);
                dr[j] = dz;
                g_bias[k] += dz;
            }
        }
    }
    if (partial == nullptr) return;
    float* p = partial + (long long)blockIdx.x * 3 * width;
    for (int k = 0; k < DEEPCRL_COLS_PER_THREAD; ++k) {
        const int j = t + k * step;
        if (j < width) {
            p[j] = g_bias[k];
            p[width + j] = g_gamma[k];
            p[2 * width + j] = g_beta[k];
        }
    }
}

// The LayerNorm without parameters between the actor's trunk and its heads (issue 26), as
// models::fast::head_norm: n̂ = (x − μ)·r. One block per row, as ln_silu_forward.
extern "C" __global__ void ln_plain_forward(const float* __restrict__ x, float* __restrict__ nhat,
                                            float* __restrict__ rstd, int rows, int width) {
    __shared__ float sh[DEEPCRL_MAX_BLOCK];
    const int row = blockIdx.x;
    if (row >= rows) return;  // uniform across the block
    const float* xr = x + (long long)row * width;
    float* nr = nhat + (long long)row * width;
    const int t = threadIdx.x, step = blockDim.x;
    float u[DEEPCRL_COLS_PER_THREAD];
    for (int k = 0; k < DEEPCRL_COLS_PER_THREAD; ++k) {
        const int j = t + k * step;
        u[k] = j < width ? xr[j] : 0.0f;
    }
    float mean, r;
    row_moments(u, width, sh, mean, r);
    if (t == 0) rstd[row] = r;
    for (int k = 0; k < DEEPCRL_COLS_PER_THREAD; ++k) {
        const int j = t + k * step;
        if (j < width) nr[j] = (u[k] - mean) * r;
    }
}

// Its backward: d [rows, width] holds ∂L/∂n̂ on entry and ∂L/∂x on return,
// r·(dn̂ − mean(dn̂) − n̂·mean(dn̂·n̂)). One block per row.
extern "C" __global__ void ln_plain_backward(float* __restrict__ d, const float* __restrict__ nhat,
                                             const float* __restrict__ rstd, int rows, int width) {
    __shared__ float sh[DEEPCRL_MAX_BLOCK];
    const int row = blockIdx.x;
    if (row >= rows) return;  // uniform across the block
    float* dr = d + (long long)row * width;
    const float* nr = nhat + (long long)row * width;
    const int t = threadIdx.x, step = blockDim.x;
    float dn[DEEPCRL_COLS_PER_THREAD], n[DEEPCRL_COLS_PER_THREAD];
    float s_dn = 0.0f, s_dnn = 0.0f;
    for (int k = 0; k < DEEPCRL_COLS_PER_THREAD; ++k) {
        const int j = t + k * step;
        dn[k] = j < width ? dr[j] : 0.0f;
        n[k] = j < width ? nr[j] : 0.0f;
        s_dn += dn[k];
        s_dnn += dn[k] * n[k];
    }
    const float inv_w = 1.0f / (float)width;
    const float mean_dn = block_sum(s_dn, sh) * inv_w;
    const float mean_dnn = block_sum(s_dnn, sh) * inv_w;
    const float r = rstd[row];
    for (int k = 0; k < DEEPCRL_COLS_PER_THREAD; ++k) {
        const int j = t + k * step;
        if (j < width) dr[j] = r * (dn[k] - mean_dn - n[k] * mean_dnn);
    }
}

// out[i] = Σ_b partial[b, i] for i < n, summed over b in order: one thread per i. Also the column
// sums of a [rows, n] matrix (a head's bias gradient), with blocks = rows.
extern "C" __global__ void sum_partials(const float* __restrict__ partial, float* __restrict__ out, int blocks, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float s = 0.0f;
    for (int b = 0; b < blocks; ++b) s += partial[(long long)b * n + i];
    out[i] = s;
}
