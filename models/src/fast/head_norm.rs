//! The optional LayerNorm between the actor's trunk and its heads (`ModelConfig::head_norm`, issue
//! 26): n̂ = (h − μ)·r per row with r = 1/√(var + 1e-6), no scale or bias, so the mean and log σ
//! heads read a unit-scale input however much the residual stream has grown with depth. The GPU's
//! `ln_plain_forward` / `ln_plain_backward` (kernels/cuda/norm.cu), candle's reference and the ONNX
//! export compute the same.

use super::norm_act::LN_EPS;
use super::simd::{sum_map, sum_map2};
use super::update::sized;

/// n̂ of each `w`-wide row of `h` into `out`, r into `rstd` (both grown to fit).
pub fn forward(h: &[f32], w: usize, out: &mut Vec<f32>, rstd: &mut Vec<f32>) {
    let rows = h.len() / w;
    let (out, rstd) = (sized(out, h.len()), sized(rstd, rows));
    let inv_w = 1.0 / w as f32;
    for ((x, o), r) in h.chunks_exact(w).zip(out.chunks_exact_mut(w)).zip(rstd.iter_mut()) {
        let mean = sum_map(x, |v| v) * inv_w;
        let var = sum_map(x, |v| (v - mean) * (v - mean)) * inv_w;
        *r = 1.0 / (var + LN_EPS).sqrt();
        for (oi, xi) in o.iter_mut().zip(x) {
            *oi = (xi - mean) * *r;
        }
    }
}

/// What the heads read: `h` itself, or (`on`) its normalisation, written to `out` and `rstd`.
pub fn heads_input<'a>(on: bool, h: &'a [f32], w: usize, out: &'a mut Vec<f32>, rstd: &mut Vec<f32>) -> &'a [f32] {
    if !on {
        return h;
    }
    forward(h, w, out, rstd);
    out
}

/// Turns `d`, the gradient of n̂, into the gradient of h in place: r·(dn̂ − mean(dn̂) − n̂·mean(dn̂·n̂)).
pub fn backward(d: &mut [f32], nhat: &[f32], rstd: &[f32], w: usize) {
    let inv_w = 1.0 / w as f32;
    for ((dr, nr), &r) in d.chunks_exact_mut(w).zip(nhat.chunks_exact(w)).zip(rstd) {
        let mean_d = sum_map(dr, |x| x) * inv_w;
        let mean_dn = sum_map2(dr, nr, |x, n| x * n) * inv_w;
        for (di, ni) in dr.iter_mut().zip(nr) {
            *di = r * (*di - mean_d - ni * mean_dn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The backward against central differences of L = Σ c·n̂(h) on one row of 7 values.
    #[test]
    fn backward_matches_finite_differences() {
        let (w, h) = (7, [0.3f32, -1.2, 2.5, 0.0, 0.7, -0.4, 1.9]);
        let c = [0.5f32, -1.0, 0.25, 2.0, -0.75, 1.5, 0.1];
        let loss = |x: &[f32]| {
            let (mut n, mut r) = (Vec::new(), Vec::new());
            forward(x, w, &mut n, &mut r);
            n.iter().zip(&c).map(|(a, b)| f64::from(a * b)).sum::<f64>()
        };
        let (mut n, mut r) = (Vec::new(), Vec::new());
        forward(&h, w, &mut n, &mut r);
        let mut d = c.to_vec();
        backward(&mut d, &n, &r, w);
        for i in 0..w {
            let eps = 1e-2f32;
            let (mut up, mut down) = (h, h);
            up[i] += eps;
            down[i] -= eps;
            let fd = (loss(&up) - loss(&down)) / (2.0 * f64::from(eps));
            assert!((fd - f64::from(d[i])).abs() < 2e-3, "entry {i}: finite differences {fd}, backward {}", d[i]);
        }
        let mean = n.iter().sum::<f32>() / w as f32;
        let var = n.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / w as f32;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "n̂ has mean {mean}, variance {var}");
    }
}
