// Adam over the flat parameter buffer, as models::crl::Adam::step computes it:
//   m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², θ ← θ − lr·(m·ŝm)/(√(v·ŝv) + ε),
// with the bias corrections ŝm = w(t)/(1 − β1ᵗ), ŝv = 1/(1 − β2ᵗ), where w(t) = min(1, t/warmup) is
// the learning-rate warm-up's factor (1 when warmup is 0), folded into ŝm as AdamConfig::corrections does.
// The step count lives in device memory and adam_tick advances it, so a captured CUDA graph
// replays the right corrections at every step (a graph freezes kernel arguments).

// state: [t (as a float-stored integer), ŝm, ŝv]. One thread.
extern "C" __global__ void adam_tick(float* state, float beta1, float beta2, long long warmup) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    const float t = state[0] + 1.0f;
    state[0] = t;
    const double w = (double)t >= (double)warmup ? 1.0 : (double)t / (double)warmup;
    // In double, as the CPU path: 1 − β2ᵗ is tiny for early steps and loses digits in float.
    state[1] = (float)(w / (1.0 - pow((double)beta1, (double)t)));
    state[2] = (float)(1.0 / (1.0 - pow((double)beta2, (double)t)));
}

extern "C" __global__ void adam_step(float* __restrict__ params, const float* __restrict__ grads,
                                     float* __restrict__ m, float* __restrict__ v, const float* __restrict__ state,
                                     long long n, float lr, float beta1, float beta2, float eps) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float scale_m = state[1], scale_v = state[2];
    const float g = grads[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    params[i] -= lr * (mi * scale_m) / (sqrtf(vi * scale_v) + eps);
}
