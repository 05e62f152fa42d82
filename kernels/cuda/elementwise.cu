// Small element-wise kernels around the trunks: one thread per output value, blocks of 256.

// out[r, :] = [a[r, 0..da) | b[r, 0..db)] for r < rows (the trunk inputs s ⊕ g and s ⊕ a).
extern "C" __global__ void concat_rows(float* __restrict__ out, const float* __restrict__ a, int da,
                                       const float* __restrict__ b, int db, int rows) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const int w = da + db;
    if (i >= (long long)rows * w) return;
    const long long r = i / w;
    const int c = (int)(i % w);
    out[i] = c < da ? a[r * da + c] : b[r * db + (c - da)];
}

// y[r, j] += bias[j] for a head's [rows, n] output.
extern "C" __global__ void add_bias(float* __restrict__ y, const float* __restrict__ bias, int rows, int n) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows * n) return;
    y[i] += bias[i % n];
}

// out[i] = x[i] + y[i]; out may be x or y (the residual stream and its gradient), so no restrict.
extern "C" __global__ void add(float* out, const float* x, const float* y, long long n) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    out[i] = x[i] + y[i];
}
