//! The three row-major matrix products a Linear layer needs, on the `gemm` crate (candle's CPU
//! matmul) with explicit strides, so no operand is ever transposed or copied.
//!
//! Shapes follow PyTorch/candle: a weight is `[out, in]`, activations are `[batch, features]`.
//!
//! On CPUs with AVX-512 and shapes that fit its tiling, [`super::gemm512`] runs instead (gemm has
//! only AVX2 kernels for f32); the `*_gemm` functions are the fallback and stay public for
//! benchmarks and tests.

use gemm::{gemm, Parallelism};

/// `y[m, n] = x[m, k] · w[n, k]ᵀ` (the forward of a Linear without its bias).
pub fn x_wt(m: usize, n: usize, k: usize, x: &[f32], w: &[f32], y: &mut [f32], par: Parallelism) {
    if !super::gemm512::x_wt(m, n, k, x, w, y, par) {
        x_wt_gemm(m, n, k, x, w, y, par)
    }
}

/// The same product on `gemm` only.
pub fn x_wt_gemm(m: usize, n: usize, k: usize, x: &[f32], w: &[f32], y: &mut [f32], par: Parallelism) {
    assert!(x.len() >= m * k && w.len() >= n * k && y.len() >= m * n, "x_wt: buffer too small");
    // SAFETY: the asserts above bound every index gemm touches: dst m×n row-major, lhs m×k
    // row-major, rhs k×n read as the transpose of the row-major n×k weight.
    unsafe {
        gemm(
            m,
            n,
            k,
            y.as_mut_ptr(),
            1,
            n as isize,
            false,
            x.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            k as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

/// `dx[m, k] = dy[m, n] · w[n, k]` (the input gradient of a Linear).
pub fn dy_w(m: usize, n: usize, k: usize, dy: &[f32], w: &[f32], dx: &mut [f32], par: Parallelism) {
    if !super::gemm512::dy_w(m, n, k, dy, w, dx, par) {
        dy_w_gemm(m, n, k, dy, w, dx, par)
    }
}

/// The same product on `gemm` only.
pub fn dy_w_gemm(m: usize, n: usize, k: usize, dy: &[f32], w: &[f32], dx: &mut [f32], par: Parallelism) {
    assert!(dy.len() >= m * n && w.len() >= n * k && dx.len() >= m * k, "dy_w: buffer too small");
    // SAFETY: bounds asserted above; all three operands are row-major.
    unsafe {
        gemm(
            m,
            k,
            n,
            dx.as_mut_ptr(),
            1,
            k as isize,
            false,
            dy.as_ptr(),
            1,
            n as isize,
            w.as_ptr(),
            1,
            k as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

/// `dw[n, k] = dy[m, n]ᵀ · x[m, k]` (the weight gradient of a Linear), overwriting `dw`.
pub fn dyt_x(m: usize, n: usize, k: usize, dy: &[f32], x: &[f32], dw: &mut [f32], par: Parallelism) {
    if !super::gemm512::dyt_x(m, n, k, dy, x, dw, par) {
        dyt_x_gemm(m, n, k, dy, x, dw, par)
    }
}

/// The same product on `gemm` only.
pub fn dyt_x_gemm(m: usize, n: usize, k: usize, dy: &[f32], x: &[f32], dw: &mut [f32], par: Parallelism) {
    assert!(dy.len() >= m * n && x.len() >= m * k && dw.len() >= n * k, "dyt_x: buffer too small");
    // SAFETY: bounds asserted above; lhs is dy read transposed (row stride 1, column stride n).
    unsafe {
        gemm(
            n,
            k,
            m,
            dw.as_mut_ptr(),
            1,
            k as isize,
            false,
            dy.as_ptr(),
            n as isize,
            1,
            x.as_ptr(),
            1,
            k as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

/// Batches up to this size use [`x_wt_small`] instead of gemm.
pub const SMALL_BATCH: usize = 8;

#[inline(always)]
fn x_wt_small_body(m: usize, n: usize, k: usize, x: &[f32], w: &[f32], y: &mut [f32]) {
    for (j, wr) in w[..n * k].chunks_exact(k).enumerate() {
        for i in 0..m {
            y[i * n + j] = super::simd::sum_map2(wr, &x[i * k..(i + 1) * k], |a, b| a * b);
        }
    }
}

super::simd::dispatch!(fn x_wt_small_kernel(m: usize, n: usize, k: usize, x: &[f32], w: &[f32], y: &mut [f32]) => x_wt_small_body);

/// `y = x wᵀ` for a handful of rows (serving): each weight row is streamed once and dotted with
/// every input row. gemm would pack the whole weight matrix first, which costs more than the
/// product itself at batch 1.
pub fn x_wt_small(m: usize, n: usize, k: usize, x: &[f32], w: &[f32], y: &mut [f32]) {
    assert!(x.len() >= m * k && w.len() >= n * k && y.len() >= m * n, "x_wt_small: buffer too small");
    if !super::matvec::x_wt_rows(m, n, k, x, w, y) {
        x_wt_small_kernel(m, n, k, x, w, y)
    }
}

/// Column sums of a row-major `[m, n]` matrix into `out[n]` (bias gradients).
pub fn col_sums(m: usize, n: usize, x: &[f32], out: &mut [f32]) {
    out[..n].fill(0.0);
    for row in x[..m * n].chunks_exact(n) {
        for (o, v) in out[..n].iter_mut().zip(row) {
            *o += v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::naive_product as naive;

    #[test]
    fn products_match_naive_loops() {
        let (m, n, k) = (5, 3, 4);
        let x: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.71).cos()).collect();
        let dy: Vec<f32> = (0..m * n).map(|i| (i as f32 * 0.13).sin()).collect();
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(p, q)| (p - q).abs() < 1e-5);

        let mut y = vec![0f32; m * n];
        x_wt(m, n, k, &x, &w, &mut y, Parallelism::None);
        assert!(close(&y, &naive(m, n, k, |i, l| x[i * k + l], |l, j| w[j * k + l])));

        let mut dx = vec![0f32; m * k];
        dy_w(m, n, k, &dy, &w, &mut dx, Parallelism::None);
        assert!(close(&dx, &naive(m, k, n, |i, l| dy[i * n + l], |l, j| w[l * k + j])));

        let mut dw = vec![1f32; n * k];
        dyt_x(m, n, k, &dy, &x, &mut dw, Parallelism::None);
        assert!(close(&dw, &naive(n, k, m, |i, l| dy[l * n + i], |l, j| x[l * k + j])));

        let mut small = vec![0f32; m * n];
        x_wt_small(m, n, k, &x, &w, &mut small);
        assert!(close(&small, &y));
        // The portable loop itself, which CPUs without a vector kernel run (and DEEPCRL_MAX_ISA=portable).
        let mut portable = vec![0f32; m * n];
        x_wt_small_body(m, n, k, &x, &w, &mut portable);
        assert!(close(&portable, &y));

        let mut cs = vec![9f32; n];
        col_sums(m, n, &dy, &mut cs);
        let want: Vec<f32> = (0..n).map(|j| (0..m).map(|i| dy[i * n + j]).sum()).collect();
        assert!(close(&cs, &want));
    }
}
