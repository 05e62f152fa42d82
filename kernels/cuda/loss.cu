// The critic's InfoNCE + 0.1·logsumexp² loss on the [b, b] logit matrix logits_ij = −‖φ_i − ψ_j‖,
// and its gradients, as models::fast::heads::CriticLoss computes them.

#define DEEPCRL_LSE_PENALTY 0.1f

// One thread per (i, j): dist[i, j] = √(Σ_k (φ_ik − ψ_jk)² + 1e-6), computed on the differences
// (the expanded form cancels badly for close pairs, exactly where 1/d is large).
extern "C" __global__ void pair_dist(const float* __restrict__ phi, const float* __restrict__ psi,
                                     float* __restrict__ dist, int b, int dim) {
    const long long n = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= (long long)b * b) return;
    const long long i = n / b, j = n % b;
    const float* p = phi + i * dim;
    const float* s = psi + j * dim;
    float d2 = 0.0f;
    for (int k = 0; k < dim; ++k) d2 += (p[k] - s[k]) * (p[k] - s[k]);
    dist[n] = sqrtf(d2 + DEEPCRL_DIST_EPS);
}

// One block per row i (blockDim.x a power of two, b <= 4·blockDim.x): the row's logsumexp and the
// gradient coefficients C_ij = −(dL/dlogit_ij)/d_ij with dL/dlogit_ij = (p_ij(1 + 0.2·lse_i) − δ_ij)/b;
// row_stats[i, 0..5) = (lse − logit_ii, lse², 1 if the row's argmax is i, logit_ii, Σ_j logit_ij).
extern "C" __global__ void infonce_rows(const float* __restrict__ dist, float* __restrict__ coef,
                                        float* __restrict__ row_stats, int b) {
    __shared__ float sh[DEEPCRL_MAX_BLOCK];
    __shared__ int shi[DEEPCRL_MAX_BLOCK];
    const int i = blockIdx.x;
    if (i >= b) return;
    const float* row = dist + (long long)i * b;
    const int t = threadIdx.x, step = blockDim.x;
    float vmin = DEEPCRL_INF, total = 0.0f;
    int imin = b;
    for (int j = t; j < b; j += step) {
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
    for (int j = t; j < b; j += step) part += expf(dmin - row[j]);
    const float sum_exp = block_sum(part, sh);
    const float row_total = block_sum(total, sh);
    const float lse = logf(sum_exp) - dmin;
    const float k = 1.0f + 2.0f * DEEPCRL_LSE_PENALTY * lse;
    const float inv_b = 1.0f / (float)b;
    float* crow = coef + (long long)i * b;
    for (int j = t; j < b; j += step) {
        const float p = expf(dmin - row[j]) / sum_exp;
        const float g = (p * k - (i == j ? 1.0f : 0.0f)) * inv_b;
        crow[j] = -g / row[j];
    }
    if (t == 0) {
        const float diag = -row[i];
        float* rs = row_stats + (long long)i * 5;
        rs[0] = lse - diag;
        rs[1] = lse * lse;
        rs[2] = argmin == i ? 1.0f : 0.0f;
        rs[3] = diag;
        rs[4] = row_total;
    }
}

// One block: stats[0..4) = (loss, accuracy, mean positive logit, mean negative logit), summed in double.
extern "C" __global__ void infonce_reduce(const float* __restrict__ row_stats, float* __restrict__ stats, int b) {
    __shared__ double sh[DEEPCRL_MAX_BLOCK];
    double loss = 0.0, correct = 0.0, pos = 0.0, total = 0.0;
    for (int i = threadIdx.x; i < b; i += blockDim.x) {
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
        stats[0] = (float)(loss / b);
        stats[1] = (float)(correct / b);
        stats[2] = (float)(pos / b);
        stats[3] = (float)((total - pos) / ((double)b * (b - 1)));
    }
}

// One thread per (i, k): d_phi[i, k] = Σ_j C_ij (φ_ik − ψ_jk), summed over the differences themselves
// (rowsum(C)·φ − Cψ cancels catastrophically for a close pair far from the origin).
extern "C" __global__ void pair_grads_phi(const float* __restrict__ coef, const float* __restrict__ phi,
                                          const float* __restrict__ psi, float* __restrict__ d_phi, int b, int dim) {
    const long long n = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= (long long)b * dim) return;
    const long long i = n / dim;
    const int k = (int)(n % dim);
    const float p = phi[n];
    float acc = 0.0f;
    for (int j = 0; j < b; ++j) acc += coef[i * b + j] * (p - psi[(long long)j * dim + k]);
    d_phi[n] = acc;
}

// One thread per (j, k): d_psi[j, k] = −Σ_i C_ij (φ_ik − ψ_jk).
extern "C" __global__ void pair_grads_psi(const float* __restrict__ coef, const float* __restrict__ phi,
                                          const float* __restrict__ psi, float* __restrict__ d_psi, int b, int dim) {
    const long long n = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= (long long)b * dim) return;
    const long long j = n / dim;
    const int k = (int)(n % dim);
    const float s = psi[n];
    float acc = 0.0f;
    for (int i = 0; i < b; ++i) acc -= coef[(long long)i * b + j] * (phi[(long long)i * dim + k] - s);
    d_psi[n] = acc;
}
