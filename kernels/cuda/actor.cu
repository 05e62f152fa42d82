// The actor's tanh-Gaussian head, its backward, Q through the frozen critic, and α's gradient, as
// models::fast::heads computes them (DESIGN.md sections 2 and 3).

#define DEEPCRL_LOG_STD_MIN (-5.0f)
#define DEEPCRL_LOG_STD_MAX 2.0f
#define DEEPCRL_HALF_LOG_2PI 0.9189385f
#define DEEPCRL_LN2 0.6931472f
#define DEEPCRL_DIST_EPS 1e-6f

// log(1 + eᵘ) without overflow.
__device__ __forceinline__ float softplusf(float u) { return fmaxf(u, 0.0f) + log1pf(expf(-fabsf(u))); }

// One thread per row: t = tanh(raw), std, the action tanh(mean + std·ε) and log π(a) per row.
extern "C" __global__ void actor_sample(const float* __restrict__ mean, const float* __restrict__ raw,
                                        const float* __restrict__ noise, float* __restrict__ t_out,
                                        float* __restrict__ std_out, float* __restrict__ action,
                                        float* __restrict__ log_prob, int rows, int a_dim) {
    const int row = blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= rows) return;
    const float half_range = 0.5f * (DEEPCRL_LOG_STD_MAX - DEEPCRL_LOG_STD_MIN);
    float sum = 0.0f;
    for (int k = row * a_dim; k < (row + 1) * a_dim; ++k) {
        const float t = tanhf(raw[k]);
        const float log_std = DEEPCRL_LOG_STD_MIN + half_range * (t + 1.0f);
        const float sd = expf(log_std);
        const float x = mean[k] + sd * noise[k];
        const float z = (x - mean[k]) / sd;
        const float correction = 2.0f * (DEEPCRL_LN2 - x - softplusf(-2.0f * x));
        sum += -0.5f * z * z - log_std - DEEPCRL_HALF_LOG_2PI - correction;
        t_out[k] = t;
        std_out[k] = sd;
        action[k] = tanhf(x);
    }
    log_prob[row] = sum;
}

// d(mean) and d(raw log-std) from d(action) and d(log π) = α/rows per row. d(action) is read from
// φ's input gradient d_sa_in [rows, d_stride] at column d_off (the action columns of s ⊕ a), and α
// from the parameters (exp of *log_alpha), so a replayed graph uses the current values. The loss is a
// mean over n rows: these rows, or every data-parallel rank's.
extern "C" __global__ void actor_sample_backward(const float* __restrict__ d_sa_in, int d_stride, int d_off,
                                                 const float* __restrict__ log_alpha,
                                                 const float* __restrict__ action, const float* __restrict__ sd,
                                                 const float* __restrict__ t, const float* __restrict__ noise,
                                                 float* __restrict__ d_mean, float* __restrict__ d_raw, int rows,
                                                 int a_dim, int n) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows * a_dim) return;
    const long long r = i / a_dim;
    const int c = (int)(i % a_dim);
    const float half_range = 0.5f * (DEEPCRL_LOG_STD_MAX - DEEPCRL_LOG_STD_MIN);
    const float dlp = expf(*log_alpha) * (1.0f / (float)n);
    const float a = action[i];
    const float dx = d_sa_in[r * d_stride + d_off + c] * (1.0f - a * a) + dlp * 2.0f * a;
    d_mean[i] = dx;
    const float d_log_std = dx * sd[i] * noise[i] - dlp;
    d_raw[i] = d_log_std * half_range * (1.0f - t[i] * t[i]);
}

// One thread per row: Q = −‖φ − ψ‖ (with 1e-6 under the root) and d(mean(−Q))/dφ = (φ − ψ)/(‖φ − ψ‖·n),
// the mean over n rows (these, or every data-parallel rank's).
extern "C" __global__ void q_and_grad(const float* __restrict__ phi, const float* __restrict__ psi,
                                      float* __restrict__ q, float* __restrict__ d_phi, int rows, int dim, int n) {
    const int row = blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= rows) return;
    const float* p = phi + (long long)row * dim;
    const float* s = psi + (long long)row * dim;
    float d2 = 0.0f;
    for (int k = 0; k < dim; ++k) d2 += (p[k] - s[k]) * (p[k] - s[k]);
    const float dist = sqrtf(d2 + DEEPCRL_DIST_EPS);
    q[row] = -dist;
    const float scale = 1.0f / (float)n;
    for (int k = 0; k < dim; ++k) d_phi[(long long)row * dim + k] = scale * (p[k] - s[k]) / dist;
}

// One block: the means of log π and Q over rows, α = exp(*log_alpha) and α's gradient
// α·(−mean log π − target_entropy), written to *grad_log_alpha; stats[4..8) = (mean log π, mean Q,
// α, α's gradient). The sums are divided by n: these rows, or every data-parallel rank's, whose
// shares (with the target's share, target_entropy / ranks) then add up to the whole batch's.
extern "C" __global__ void actor_alpha(const float* __restrict__ log_prob, const float* __restrict__ q,
                                       const float* __restrict__ log_alpha, float target_entropy,
                                       float* __restrict__ grad_log_alpha, float* __restrict__ stats, int rows,
                                       int n) {
    __shared__ float sh[DEEPCRL_MAX_BLOCK];
    float lp = 0.0f, qs = 0.0f;
    for (int r = threadIdx.x; r < rows; r += blockDim.x) {
        lp += log_prob[r];
        qs += q[r];
    }
    const float inv = 1.0f / (float)n;
    const float mean_lp = block_sum(lp, sh) * inv;
    const float mean_q = block_sum(qs, sh) * inv;
    if (threadIdx.x == 0) {
        const float alpha = expf(*log_alpha);
        const float grad = alpha * (-mean_lp - target_entropy);
        *grad_log_alpha = grad;
        stats[4] = mean_lp;
        stats[5] = mean_q;
        stats[6] = alpha;
        stats[7] = grad;
    }
}
