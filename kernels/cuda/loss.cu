// The critic's InfoNCE + 0.1·logsumexp² loss on the [n, n] logit matrix logits_ij = −‖φ_i − ψ_j‖,
// and its gradients, as models::fast::heads::CriticLoss computes them. Each call computes a block of
// `rows` rows of the matrix, whose first row is the batch's row `offset` (so row i's positive is
// column offset + i), against all n columns: the whole matrix in one process (rows = n, offset 0),
// one rank's rows in data-parallel training. Every mean is over n.

#define DEEPCRL_LSE_PENALTY 0.1f

// One thread per (i, j) of the block: dist[i, j] = √(Σ_k (φ_ik − ψ_jk)² + 1e-6), computed on the
// differences (the expanded form cancels badly for close pairs, exactly where 1/d is large).
extern "C" __global__ void pair_dist(const float* __restrict__ phi, const float* __restrict__ psi,
                                     float* __restrict__ dist, int rows, int n, int dim) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)rows * n) return;
    const long long i = idx / n, j = idx % n;
    const float* p = phi + i * dim;
    const float* s = psi + j * dim;
    float d2 = 0.0f;
    for (int k = 0; k < dim; ++k) d2 += (p[k] - s[k]) * (p[k] - s[k]);
    dist[idx] = sqrtf(d2 + DEEPCRL_DIST_EPS);
}

// One block per row i of the block (blockDim.x a power of two, n <= 4·blockDim.x): the row's
// logsumexp and the gradient coefficients C_ij = −(dL/dlogit_ij)/d_ij with
// dL/dlogit_ij = (p_ij(1 + 0.2·lse_i) − δ_(offset+i),j)/n; row_stats[i, 0..5) = (lse − logit_ii, lse²,
// 1 if the row's argmax is its positive, logit_ii, Σ_j logit_ij).
extern "C" __global__ void infonce_rows(const float* __restrict__ dist, float* __restrict__ coef,
                                        float* __restrict__ row_stats, int rows, int n, int offset) {
    __shared__ float sh[DEEPCRL_MAX_BLOCK];
    __shared__ int shi[DEEPCRL_MAX_BLOCK];
    const int i = blockIdx.x;
    if (i >= rows) return;
    const int pos = offset + i;
    const float* row = dist + (long long)i * n;
    const int t = threadIdx.x, step = blockDim.x;
    float vmin = DEEPCRL_INF, total = 0.0f;
    int imin = n;
    for (int j = t; j < n; j += step) {
        const float d = row[j];
        if (d < vmin) {
            vmin = d;
            imin = j;
        }
        total -= d;
    }
    float dmin;
    int argmin;
    block_argmin(vmin, imin, sh, shi, &dmin, &argmin);
    float part = 0.0f;
    for (int j = t; j < n; j += step) part += expf(dmin - row[j]);
    const float sum_exp = block_sum(part, sh);
    const float row_total = block_sum(total, sh);
    const float lse = logf(sum_exp) - dmin;
    const float k = 1.0f + 2.0f * DEEPCRL_LSE_PENALTY * lse;
    const float inv_n = 1.0f / (float)n;
    float* crow = coef + (long long)i * n;
    for (int j = t; j < n; j += step) {
        const float p = expf(dmin - row[j]) / sum_exp;
        const float g = (p * k - (pos == j ? 1.0f : 0.0f)) * inv_n;
        crow[j] = -g / row[j];
    }
    if (t == 0) {
        const float diag = -row[pos];
        float* rs = row_stats + (long long)i * 5;
        rs[0] = lse - diag;
        rs[1] = lse * lse;
        rs[2] = argmin == pos ? 1.0f : 0.0f;
        rs[3] = diag;
        rs[4] = row_total;
    }
}

// One block: stats[0..4) = the block's share of (loss, accuracy, mean positive logit, mean negative
// logit) over the batch of n, summed in double. The shares are linear in the rows' sums, so the blocks
// of a batch add up to the whole batch's figures.
extern "C" __global__ void infonce_reduce(const float* __restrict__ row_stats, float* __restrict__ stats, int rows,
                                          int n) {
    __shared__ double sh[DEEPCRL_MAX_BLOCK];
    double loss = 0.0, correct = 0.0, pos = 0.0, total = 0.0;
    for (int i = threadIdx.x; i < rows; i += blockDim.x) {
        const float* rs = row_stats + (long long)i * 5;
        loss += (double)rs[0] + (double)DEEPCRL_LSE_PENALTY * (double)rs[1];
        correct += rs[2];
        pos += rs[3];
        total += rs[4];
    }
    loss = block_sum(loss, sh);
    correct = block_sum(correct, sh);
    pos = block_sum(pos, sh);
    total = block_sum(total, sh);
    if (threadIdx.x == 0) {
        stats[0] = (float)(loss / n);
        stats[1] = (float)(correct / n);
        stats[2] = (float)(pos / n);
        stats[3] = (float)((total - pos) / ((double)n * (n - 1)));
    }
}

// One thread per (i, k) of the block's rows: d_phi[i, k] = Σ_j C_ij (φ_ik − ψ_jk), summed over the
// differences themselves (rowsum(C)·φ − Cψ cancels catastrophically for a close pair far from the
// origin).
extern "C" __global__ void pair_grads_phi(const float* __restrict__ coef, const float* __restrict__ phi,
                                          const float* __restrict__ psi, float* __restrict__ d_phi, int rows, int n,
                                          int dim) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)rows * dim) return;
    const long long i = idx / dim;
    const int k = (int)(idx % dim);
    const float p = phi[idx];
    float acc = 0.0f;
    for (int j = 0; j < n; ++j) acc += coef[i * n + j] * (p - psi[(long long)j * dim + k]);
    d_phi[idx] = acc;
}

// One thread per (j, k) of all n columns: d_psi[j, k] = −Σ_i C_ij (φ_ik − ψ_jk) over the block's rows
// (the blocks of a batch add up to the whole gradient).
extern "C" __global__ void pair_grads_psi(const float* __restrict__ coef, const float* __restrict__ phi,
                                          const float* __restrict__ psi, float* __restrict__ d_psi, int rows, int n,
                                          int dim) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)n * dim) return;
    const long long j = idx / dim;
    const int k = (int)(idx % dim);
    const float s = psi[idx];
    float acc = 0.0f;
    for (int i = 0; i < rows; ++i) acc -= coef[(long long)i * n + j] * (phi[(long long)i * dim + k] - s);
    d_psi[idx] = acc;
}
