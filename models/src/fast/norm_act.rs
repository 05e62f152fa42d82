//! Bias + LayerNorm + SiLU fused into one pass over each row forward and one pass backward.
//!
//! Forward, per row of the Linear output z (without bias): u = z + b, n̂ = (u − μ)·r with
//! r = 1/√(var + 1e-6), y = γ·n̂ + β, a = y·σ(y). Saved for backward: n̂ (written over z) and r.
//! Backward recomputes y and σ(y) from n̂ instead of storing them, which halves the memory a deep
//! trunk keeps per layer. The row loops are written to vectorise (see [`super::simd`]).
#![allow(clippy::too_many_arguments)] // kernel signatures name every buffer explicitly, like BLAS

use rayon::join;

use super::simd::{dispatch, sigmoid, sum_map, sum_map2};

pub const LN_EPS: f32 = 1e-6;

/// Rows below which a second thread is not worth waking.
const PAR_ROWS: usize = 64;

#[inline(always)]
fn forward_rows(z: &mut [f32], bias: &[f32], gamma: &[f32], beta: &[f32], rstd: &mut [f32], act: &mut [f32], w: usize) {
    let inv_w = 1.0 / w as f32;
    let (bias, gamma, beta) = (&bias[..w], &gamma[..w], &beta[..w]);
    for ((zr, r), ar) in z.chunks_exact_mut(w).zip(rstd.iter_mut()).zip(act.chunks_exact_mut(w)) {
        for (zi, bi) in zr.iter_mut().zip(bias) {
            *zi += bi;
        }
        let mean = sum_map(zr, |x| x) * inv_w;
        let var = sum_map(zr, |x| (x - mean) * (x - mean)) * inv_w;
        let rs = 1.0 / (var + LN_EPS).sqrt();
        *r = rs;
        for ((zi, ai), (g, b)) in zr.iter_mut().zip(ar.iter_mut()).zip(gamma.iter().zip(beta)) {
            let n = (*zi - mean) * rs;
            *zi = n;
            let y = g * n + b;
            *ai = y * sigmoid(y);
        }
    }
}

dispatch!(fn forward_kernel(z: &mut [f32], bias: &[f32], gamma: &[f32], beta: &[f32], rstd: &mut [f32], act: &mut [f32], w: usize) => forward_rows);

/// Normalises each row of `z` in place into n̂, writes r to `rstd` and the activation to `act`.
pub fn forward(
    z: &mut [f32],
    bias: &[f32],
    gamma: &[f32],
    beta: &[f32],
    rstd: &mut [f32],
    act: &mut [f32],
    w: usize,
    par: bool,
) {
    let rows = rstd.len();
    if par && rows >= PAR_ROWS {
        let h = rows / 2;
        let (z0, z1) = z.split_at_mut(h * w);
        let (r0, r1) = rstd.split_at_mut(h);
        let (a0, a1) = act.split_at_mut(h * w);
        join(|| forward_kernel(z0, bias, gamma, beta, r0, a0, w), || forward_kernel(z1, bias, gamma, beta, r1, a1, w));
    } else {
        forward_kernel(z, bias, gamma, beta, rstd, act, w);
    }
}

/// One row range of backward; with `G`, also accumulates γ, β and bias gradients into `acc`
/// (`[3, w]`: γ, β, bias).
#[inline(always)]
fn backward_rows<const G: bool>(
    d: &mut [f32],
    nhat: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    beta: &[f32],
    w: usize,
    acc: &mut [f32],
) {
    let inv_w = 1.0 / w as f32;
    let (gamma, beta) = (&gamma[..w], &beta[..w]);
    let (g_gamma, rest) = acc.split_at_mut(if G { w } else { 0 });
    let (g_beta, g_bias) = rest.split_at_mut(if G { w } else { 0 });
    for ((dr, nr), &rs) in d.chunks_exact_mut(w).zip(nhat.chunks_exact(w)).zip(rstd) {
        // dy = da·σ(y)(1 + y(1 − σ(y))), then dn̂ = γ·dy (written over da).
        for i in 0..w {
            let n = nr[i];
            let y = gamma[i] * n + beta[i];
            let s = sigmoid(y);
            let dy = dr[i] * s * (1.0 + y * (1.0 - s));
            if G {
                g_gamma[i] += dy * n;
                g_beta[i] += dy;
            }
            dr[i] = dy * gamma[i];
        }
        let mean_dn = sum_map(dr, |x| x) * inv_w;
        let mean_dn_n = sum_map2(dr, nr, |x, n| x * n) * inv_w;
        for i in 0..w {
            let dz = rs * (dr[i] - mean_dn - nr[i] * mean_dn_n);
            dr[i] = dz;
            if G {
                g_bias[i] += dz;
            }
        }
    }
}

#[inline(always)]
fn backward_rows_grads(
    d: &mut [f32],
    nhat: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    beta: &[f32],
    w: usize,
    acc: &mut [f32],
) {
    backward_rows::<true>(d, nhat, rstd, gamma, beta, w, acc)
}

#[inline(always)]
fn backward_rows_no_grads(
    d: &mut [f32],
    nhat: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    beta: &[f32],
    w: usize,
    acc: &mut [f32],
) {
    backward_rows::<false>(d, nhat, rstd, gamma, beta, w, acc)
}

dispatch!(fn backward_grads(d: &mut [f32], nhat: &[f32], rstd: &[f32], gamma: &[f32], beta: &[f32], w: usize, acc: &mut [f32]) => backward_rows_grads);
dispatch!(fn backward_no_grads(d: &mut [f32], nhat: &[f32], rstd: &[f32], gamma: &[f32], beta: &[f32], w: usize, acc: &mut [f32]) => backward_rows_no_grads);

/// Gradients of the LayerNorm affine parameters and the Linear bias, summed over rows.
pub struct NormGrads<'a> {
    pub gamma: &'a mut [f32],
    pub beta: &'a mut [f32],
    pub bias: &'a mut [f32],
}

/// Turns the activation gradient `d` (in place) into the gradient of the Linear output, and, when
/// `grads` is given, overwrites it with the row sums for γ, β and the Linear bias. `scratch` holds
/// the per-thread partial sums (grown on first use).
pub fn backward(
    d: &mut [f32],
    nhat: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    beta: &[f32],
    w: usize,
    grads: Option<NormGrads>,
    par: bool,
    scratch: &mut Vec<f32>,
) {
    let rows = rstd.len();
    let split = par && rows >= PAR_ROWS;
    let parts = if split { 2 } else { 1 };
    let want = grads.is_some();
    let need = if want { 3 * w * parts } else { 0 };
    if scratch.len() < need {
        scratch.resize(need, 0.0);
    }
    let acc = &mut scratch[..need];
    acc.fill(0.0);
    let kernel = if want { backward_grads } else { backward_no_grads };
    if split {
        let h = rows / 2;
        let (d0, d1) = d.split_at_mut(h * w);
        let (n0, n1) = nhat.split_at(h * w);
        let (r0, r1) = rstd.split_at(h);
        let (acc0, acc1) = acc.split_at_mut(need / 2);
        join(|| kernel(d0, n0, r0, gamma, beta, w, acc0), || kernel(d1, n1, r1, gamma, beta, w, acc1));
    } else {
        kernel(d, nhat, rstd, gamma, beta, w, acc);
    }
    if let Some(g) = grads {
        for (k, dst) in [g.gamma, g.beta, g.bias].into_iter().enumerate() {
            for (j, v) in dst[..w].iter_mut().enumerate() {
                *v = (0..parts).map(|p| acc[p * 3 * w + k * w + j]).sum();
            }
        }
    }
}
