//! Bias + LayerNorm + SiLU fused into one pass over each row forward and one pass backward.
//!
//! Forward, per row of the Linear output z (without bias): u = z + b, n̂ = (u − μ)·r with
//! r = 1/√(var + 1e-6), y = γ·n̂ + β, a = y·σ(y). Saved for backward: n̂ (written over z) and r.
//! Backward recomputes y and σ(y) from n̂ instead of storing them, which halves the memory a deep
//! trunk keeps per layer.
#![allow(clippy::too_many_arguments)] // kernel signatures name every buffer explicitly, like BLAS

use rayon::join;

pub const LN_EPS: f32 = 1e-6;

/// Rows below which a second thread is not worth waking.
const PAR_ROWS: usize = 64;

#[inline]
fn sigmoid(y: f32) -> f32 {
    1.0 / (1.0 + (-y).exp())
}

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
        join(|| forward(z0, bias, gamma, beta, r0, a0, w, false), || forward(z1, bias, gamma, beta, r1, a1, w, false));
        return;
    }
    let inv_w = 1.0 / w as f32;
    for ((zr, r), ar) in z.chunks_exact_mut(w).zip(rstd.iter_mut()).zip(act.chunks_exact_mut(w)) {
        let mut sum = 0.0;
        for (zi, bi) in zr.iter_mut().zip(bias) {
            *zi += bi;
            sum += *zi;
        }
        let mean = sum * inv_w;
        let mut var = 0.0;
        for zi in zr.iter() {
            let d = zi - mean;
            var += d * d;
        }
        let rs = 1.0 / (var * inv_w + LN_EPS).sqrt();
        *r = rs;
        for i in 0..w {
            let n = (zr[i] - mean) * rs;
            zr[i] = n;
            let y = gamma[i] * n + beta[i];
            ar[i] = y * sigmoid(y);
        }
    }
}

/// Gradients of the LayerNorm affine parameters and the Linear bias, summed over rows.
pub struct NormGrads<'a> {
    pub gamma: &'a mut [f32],
    pub beta: &'a mut [f32],
    pub bias: &'a mut [f32],
}

/// Turns the activation gradient `d` (in place) into the gradient of the Linear output, and, when
/// `grads` is given, overwrites it with the row sums for γ, β and the Linear bias.
pub fn backward(
    d: &mut [f32],
    nhat: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    beta: &[f32],
    w: usize,
    grads: Option<NormGrads>,
    par: bool,
) {
    let rows = rstd.len();
    if par && rows >= PAR_ROWS {
        let h = rows / 2;
        let (d0, d1) = d.split_at_mut(h * w);
        let (n0, n1) = nhat.split_at(h * w);
        let (r0, r1) = rstd.split_at(h);
        match grads {
            None => {
                join(
                    || backward(d0, n0, r0, gamma, beta, w, None, false),
                    || backward(d1, n1, r1, gamma, beta, w, None, false),
                );
            }
            Some(g) => {
                let mut tail = vec![0f32; 3 * w];
                let (tg, rest) = tail.split_at_mut(w);
                let (tb, tbias) = rest.split_at_mut(w);
                join(
                    || {
                        backward(
                            d0,
                            n0,
                            r0,
                            gamma,
                            beta,
                            w,
                            Some(NormGrads { gamma: g.gamma, beta: g.beta, bias: g.bias }),
                            false,
                        )
                    },
                    || {
                        backward(
                            d1,
                            n1,
                            r1,
                            gamma,
                            beta,
                            w,
                            Some(NormGrads { gamma: tg, beta: tb, bias: tbias }),
                            false,
                        )
                    },
                );
                for (dst, src) in [(&mut *g.gamma, &*tg), (&mut *g.beta, &*tb), (&mut *g.bias, &*tbias)] {
                    dst.iter_mut().zip(src).for_each(|(a, b)| *a += b);
                }
            }
        }
        return;
    }
    let mut grads = grads;
    if let Some(g) = grads.as_mut() {
        g.gamma[..w].fill(0.0);
        g.beta[..w].fill(0.0);
        g.bias[..w].fill(0.0);
    }
    let inv_w = 1.0 / w as f32;
    for ((dr, nr), &rs) in d.chunks_exact_mut(w).zip(nhat.chunks_exact(w)).zip(rstd) {
        // dy = da·σ(y)(1 + y(1 − σ(y))), then dn̂ = γ·dy; keep the two row means for the norm.
        let mut mean_dn = 0.0;
        let mut mean_dn_n = 0.0;
        for i in 0..w {
            let n = nr[i];
            let y = gamma[i] * n + beta[i];
            let s = sigmoid(y);
            let dy = dr[i] * s * (1.0 + y * (1.0 - s));
            if let Some(g) = grads.as_mut() {
                g.gamma[i] += dy * n;
                g.beta[i] += dy;
            }
            let dn = dy * gamma[i];
            dr[i] = dn;
            mean_dn += dn;
            mean_dn_n += dn * n;
        }
        mean_dn *= inv_w;
        mean_dn_n *= inv_w;
        for i in 0..w {
            let dz = rs * (dr[i] - mean_dn - nr[i] * mean_dn_n);
            dr[i] = dz;
            if let Some(g) = grads.as_mut() {
                g.bias[i] += dz;
            }
        }
    }
}
