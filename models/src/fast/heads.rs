//! The small pieces around the trunks: biased Linear heads, the tanh-Gaussian actor head, and the
//! contrastive critic loss with its gradient, each written against the equations of DESIGN.md
//! sections 2–3.

use gemm::Parallelism;

use super::matmul::{col_sums, dy_w, dyt_x, x_wt};
use super::simd::{exp, sum_map, sum_map2};
use crate::layout::LinearSlot;
use crate::numerics::{DIST_EPS, LOG_STD_MAX, LOG_STD_MIN, LSE_PENALTY};
/// The block of rows a loss call computes (the device kernels take the same).
pub use kernels::ops::Rows;

/// `y = x Wᵀ + b` for a head.
pub fn linear_forward(s: &LinearSlot, params: &[f32], x: &[f32], batch: usize, y: &mut [f32]) {
    x_wt(batch, s.n_out, s.n_in, x, &params[s.w..s.w + s.n_in * s.n_out], y, Parallelism::None);
    let b = &params[s.b..s.b + s.n_out];
    for row in y[..batch * s.n_out].chunks_exact_mut(s.n_out) {
        row.iter_mut().zip(b).for_each(|(v, bi)| *v += bi);
    }
}

/// Weight and bias gradients of a head (overwritten in `grads`).
pub fn linear_param_grads(s: &LinearSlot, x: &[f32], dy: &[f32], batch: usize, grads: &mut [f32]) {
    dyt_x(batch, s.n_out, s.n_in, dy, x, &mut grads[s.w..s.w + s.n_in * s.n_out], Parallelism::None);
    col_sums(batch, s.n_out, dy, &mut grads[s.b..s.b + s.n_out]);
}

/// `dx = dy W` for a head.
pub fn linear_input_grad(s: &LinearSlot, params: &[f32], dy: &[f32], batch: usize, dx: &mut [f32]) {
    dy_w(batch, s.n_out, s.n_in, dy, &params[s.w..s.w + s.n_in * s.n_out], dx, Parallelism::None);
}

/// log(1 + eᵘ) without overflow.
#[inline]
fn softplus(u: f32) -> f32 {
    u.max(0.0) + (-u.abs()).exp().ln_1p()
}

const HALF_LOG_2PI: f32 = 0.918_938_5;

/// The actor's reparameterised sample for one batch: everything its backward needs.
#[derive(Default, Debug)]
pub struct ActorSample {
    /// tanh of the raw log-std head output.
    pub t: Vec<f32>,
    pub std: Vec<f32>,
    /// The sampled action a = tanh(mean + std·ε).
    pub action: Vec<f32>,
    /// log π(a) per row.
    pub log_prob: Vec<f32>,
}

impl ActorSample {
    /// From the head outputs `mean`, `raw` (pre-tanh log-std) and the noise ε, all `[B, A]`.
    pub fn compute(&mut self, mean: &[f32], raw: &[f32], noise: &[f32], a_dim: usize) {
        let n = mean.len();
        for v in [&mut self.t, &mut self.std, &mut self.action] {
            v.resize(n, 0.0);
        }
        self.log_prob.resize(n / a_dim, 0.0);
        let half_range = 0.5 * (LOG_STD_MAX - LOG_STD_MIN) as f32;
        for (row, lp) in self.log_prob.iter_mut().enumerate() {
            let mut sum = 0.0;
            for k in row * a_dim..(row + 1) * a_dim {
                let t = raw[k].tanh();
                let log_std = LOG_STD_MIN as f32 + half_range * (t + 1.0);
                let std = log_std.exp();
                let x = mean[k] + std * noise[k];
                let z = (x - mean[k]) / std;
                let correction = 2.0 * (std::f32::consts::LN_2 - x - softplus(-2.0 * x));
                sum += -0.5 * z * z - log_std - HALF_LOG_2PI - correction;
                self.t[k] = t;
                self.std[k] = std;
                self.action[k] = x.tanh();
            }
            *lp = sum;
        }
    }

    /// Gradients of the heads' outputs from d(action) and d(log π) per row: writes d(mean) and
    /// d(raw log-std). The Gaussian term's z = (x − mean)/std is the fixed ε under the
    /// reparameterisation, so log π depends on mean and std only through −log_std and the tanh
    /// correction, whose derivative in x is 2·tanh(x).
    pub fn backward(
        &self,
        d_action: &[f32],
        d_log_prob: &[f32],
        noise: &[f32],
        a_dim: usize,
        d_mean: &mut [f32],
        d_raw: &mut [f32],
    ) {
        let half_range = 0.5 * (LOG_STD_MAX - LOG_STD_MIN) as f32;
        for k in 0..self.action.len() {
            let dlp = d_log_prob[k / a_dim];
            let a = self.action[k];
            let dx = d_action[k] * (1.0 - a * a) + dlp * 2.0 * a;
            d_mean[k] = dx;
            let d_log_std = dx * self.std[k] * noise[k] - dlp;
            d_raw[k] = d_log_std * half_range * (1.0 - self.t[k] * self.t[k]);
        }
    }

    /// The two parts of `backward`'s d(log std) at entry `k`: the one through the action (from
    /// d(action), the critic's) and the one through log π (`dlp`, the entropy term's). They add up
    /// to what `backward` computes; the actor probe reports them apart.
    pub fn d_log_std_terms(&self, k: usize, d_action: &[f32], dlp: f32, noise: f32) -> (f32, f32) {
        let a = self.action[k];
        let through_action = d_action[k] * (1.0 - a * a) * self.std[k] * noise;
        let through_log_prob = dlp * (2.0 * a * self.std[k] * noise - 1.0);
        (through_action, through_log_prob)
    }
}

/// Row-wise Q = −‖φ_i − ψ_i‖ and the gradient of mean(−Q)·scale with respect to φ.
pub fn q_and_grad(phi: &[f32], psi: &[f32], dim: usize, scale: f32, q: &mut [f32], d_phi: &mut [f32]) {
    for (i, qi) in q.iter_mut().enumerate() {
        let (p, s) = (&phi[i * dim..(i + 1) * dim], &psi[i * dim..(i + 1) * dim]);
        let d2: f32 = p.iter().zip(s).map(|(a, b)| (a - b) * (a - b)).sum();
        let dist = (d2 + DIST_EPS as f32).sqrt();
        *qi = -dist;
        for k in 0..dim {
            d_phi[i * dim + k] = scale * (p[k] - s[k]) / dist;
        }
    }
}

/// The critic loss on the `[B, B]` logit matrix (or a block of its rows) and its gradients.
#[derive(Default, Debug)]
pub struct CriticLoss {
    /// `[rows, N]` distances d_ij.
    dist: Vec<f32>,
    /// `[rows, N]` gradient coefficients C_ij.
    coef: Vec<f32>,
    pub loss: f32,
    pub accuracy: f32,
    pub logits_pos: f32,
    pub logits_neg: f32,
}

impl CriticLoss {
    /// L = mean_i(−logits_ii + lse_i) + 0.1·mean_i(lse_i²), logits_ij = −‖φ_i − ψ_j‖; writes dL/dφ
    /// and dL/dψ.
    pub fn compute(
        &mut self,
        phi: &[f32],
        psi: &[f32],
        batch: usize,
        dim: usize,
        d_phi: &mut [f32],
        d_psi: &mut [f32],
    ) {
        let sums = self.compute_block(phi, psi, Rows::square(batch), dim, d_phi, d_psi);
        self.set_stats(&sums, batch);
    }

    /// The block's share of L and of its gradients: `phi` holds the block's rows, `psi` all N rows;
    /// writes dL/dφ for the block's rows and the block's contribution to dL/dψ (all N rows), which
    /// the blocks of a batch sum. Returns the block's sums for [`CriticLoss::set_stats`].
    pub fn compute_block(
        &mut self,
        phi: &[f32],
        psi: &[f32],
        block: Rows,
        dim: usize,
        d_phi: &mut [f32],
        d_psi: &mut [f32],
    ) -> RowSums {
        let cells = block.rows * block.n;
        self.dist.resize(cells, 0.0);
        self.coef.resize(cells, 0.0);
        pair_dist(phi, psi, block, dim, &mut self.dist);
        let mut rows = RowSums::default();
        infonce_rows(&self.dist, block, &mut self.coef, &mut rows);
        pair_grads(&self.coef, phi, psi, block, dim, d_phi, d_psi);
        rows
    }

    /// The reported statistics from the sums of every row of a batch of `n`.
    pub fn set_stats(&mut self, sums: &RowSums, n: usize) {
        self.loss = (sums.loss / n as f64) as f32;
        self.accuracy = sums.correct as f32 / n as f32;
        self.logits_pos = (sums.pos / n as f64) as f32;
        self.logits_neg = ((sums.total - sums.pos) / (n * (n - 1)) as f64) as f32;
    }
}

/// d_ij = √(‖φ_i − ψ_j‖² + ε) into `dist` `[rows, N]`. Distances are computed directly, not as
/// ‖φ‖² + ‖ψ‖² − 2φ·ψ, which cancels badly when a pair is close (exactly where 1/d is large); the
/// sum runs in vector lanes, since a plain float sum is left one element at a time.
#[inline(always)]
fn pair_dist_body(phi: &[f32], psi: &[f32], block: Rows, dim: usize, dist: &mut [f32]) {
    for (p, row) in phi.chunks_exact(dim).zip(dist.chunks_exact_mut(block.n)).take(block.rows) {
        for (s, d) in psi.chunks_exact(dim).zip(row.iter_mut()) {
            *d = (sum_map2(p, s, |a, b| (a - b) * (a - b)) + DIST_EPS as f32).sqrt();
        }
    }
}

super::simd::dispatch!(fn pair_dist(phi: &[f32], psi: &[f32], block: Rows, dim: usize, dist: &mut [f32]) => pair_dist_body);

/// The loss terms of a set of rows, summed in f64 for the statistics; the blocks of a batch add.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
pub struct RowSums {
    /// Σ_i (lse_i − logit_ii) + 0.1·lse_i².
    pub loss: f64,
    /// Rows whose largest logit is their own positive (a count, kept in f64 so the sums of several
    /// ranks travel in one buffer).
    pub correct: f64,
    /// Σ_i logit_ii.
    pub pos: f64,
    /// Σ_ij logit_ij.
    pub total: f64,
}

impl RowSums {
    pub fn from_array(a: [f64; 4]) -> Self {
        RowSums { loss: a[0], correct: a[1], pos: a[2], total: a[3] }
    }
}

/// Per row of logits −d_ij: the log-sum-exp, the loss terms, and the gradient coefficients
/// C_ij = −(dL/dlogit_ij)/d_ij into `coef`, where dL/dlogit_ij = (p_ij(1 + 0.2·lse_i) − δ_ij)/N.
/// Each e^(logit − max) is taken once, with the vectorising `exp`.
#[inline(always)]
fn infonce_rows_body(dist: &[f32], block: Rows, coef: &mut [f32], sums: &mut RowSums) {
    let n = block.n;
    let inv_n = 1.0 / n as f32;
    let rows = dist.chunks_exact(n).zip(coef.chunks_exact_mut(n)).take(block.rows);
    for (i, (row, crow)) in rows.enumerate() {
        let pos = block.offset + i;
        // logits = −d, so the largest logit is the smallest distance.
        let dmin = row.iter().fold(f32::INFINITY, |m, &d| if d < m { d } else { m });
        for (e, d) in crow.iter_mut().zip(row) {
            *e = exp(dmin - d);
        }
        let sum_exp = sum_map(crow, |e| e);
        let lse = sum_exp.ln() - dmin;
        let diag = -row[pos];
        sums.loss += (lse - diag) as f64 + LSE_PENALTY * (lse * lse) as f64;
        let argmin = row.iter().enumerate().fold(0, |best, (j, d)| if *d < row[best] { j } else { best });
        sums.correct += (argmin == pos) as u8 as f64;
        sums.pos += diag as f64;
        sums.total -= row.iter().map(|&d| d as f64).sum::<f64>();
        let scale = (1.0 + 2.0 * LSE_PENALTY as f32 * lse) / sum_exp * inv_n;
        let e_ii = crow[pos];
        for (c, d) in crow.iter_mut().zip(row) {
            *c = -(*c * scale) / d;
        }
        crow[pos] = -(e_ii * scale - inv_n) / row[pos];
    }
}

super::simd::dispatch!(fn infonce_rows(dist: &[f32], block: Rows, coef: &mut [f32], sums: &mut RowSums) => infonce_rows_body);

/// dφ_i = Σ_j C_ij (φ_i − ψ_j) and dψ_j = −Σ_i C_ij (φ_i − ψ_j), summed over the differences
/// themselves. The shorter form rowsum(C)·φ − Cψ cancels catastrophically when a pair is close
/// (C_ii ~ 1/d_ii is large) and φ is far from the origin.
#[inline(always)]
fn pair_grads_body(c: &[f32], phi: &[f32], psi: &[f32], block: Rows, dim: usize, d_phi: &mut [f32], d_psi: &mut [f32]) {
    let n = block.n;
    d_psi[..n * dim].fill(0.0);
    for i in 0..block.rows {
        let p = &phi[i * dim..(i + 1) * dim];
        let dp = &mut d_phi[i * dim..(i + 1) * dim];
        dp.fill(0.0);
        for j in 0..n {
            let cij = c[i * n + j];
            let (s, ds) = (&psi[j * dim..(j + 1) * dim], &mut d_psi[j * dim..(j + 1) * dim]);
            for k in 0..dim {
                let diff = cij * (p[k] - s[k]);
                dp[k] += diff;
                ds[k] -= diff;
            }
        }
    }
}

super::simd::dispatch!(fn pair_grads(c: &[f32], phi: &[f32], psi: &[f32], block: Rows, dim: usize, d_phi: &mut [f32], d_psi: &mut [f32]) => pair_grads_body);
