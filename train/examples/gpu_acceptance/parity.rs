//! (i) Kernel-by-kernel parity: every op of `kernels::ops` on the same inputs on the GPU and on the
//! CPU device (the same kernel text on the fiber shim), compared per output.

use kernels::device::{Device, Ptr};
use kernels::ops::{self, ActorHead, InfoNce, STATS_LEN};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One output of one case: its name and values.
pub type Output = (String, Vec<f32>);

fn up(dev: &mut dyn Device, v: &[f32]) -> anyhow::Result<Ptr> {
    let b = dev.alloc(v.len())?;
    dev.upload(b.into(), v)?;
    Ok(b.into())
}

fn zeros(dev: &mut dyn Device, n: usize) -> anyhow::Result<Ptr> {
    Ok(dev.alloc(n)?.into())
}

fn down(dev: &mut dyn Device, p: Ptr, n: usize) -> anyhow::Result<Vec<f32>> {
    let mut v = vec![0.0; n];
    dev.download(p, &mut v)?;
    Ok(v)
}

struct Gen(ChaCha8Rng);

impl Gen {
    fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.0.random_range(lo..hi)).collect()
    }
}

/// Runs every case on `dev`; the same seed gives the same inputs on every device.
pub fn run_all(dev: &mut dyn Device) -> anyhow::Result<Vec<Output>> {
    let mut out = Vec::new();
    let mut g = Gen(ChaCha8Rng::seed_from_u64(2026));
    for rows in [37, 512] {
        for width in [64, 256, 1024] {
            let tag = format!("rows {rows}, width {width}");
            let n = rows * width;
            let (zv, bias, gamma, beta) =
                (g.vec(n, -3.0, 3.0), g.vec(width, -0.5, 0.5), g.vec(width, 0.5, 1.5), g.vec(width, -0.3, 0.3));
            let (z, b, ga, be) = (up(dev, &zv)?, up(dev, &bias)?, up(dev, &gamma)?, up(dev, &beta)?);
            let (rstd, act) = (zeros(dev, rows)?, zeros(dev, n)?);
            ops::ln_forward(dev, z, b, ga, be, rstd, act, rows, width)?;
            out.push((format!("ln_silu_forward n̂ ({tag})"), down(dev, z, n)?));
            out.push((format!("ln_silu_forward act ({tag})"), down(dev, act, n)?));
            let d = up(dev, &g.vec(n, -1.0, 1.0))?;
            let (partial, grads) = (zeros(dev, ops::ln_partial_len(rows, width))?, zeros(dev, 3 * width)?);
            ops::ln_backward(dev, d, z, rstd, ga, be, Some((partial, grads)), rows, width)?;
            out.push((format!("ln_silu_backward dz ({tag})"), down(dev, d, n)?));
            out.push((format!("ln_silu_backward bias/γ/β grads ({tag})"), down(dev, grads, 3 * width)?));
            // The norm before the actor's heads, on a stream of a deep trunk's scale.
            let (x, nhat, r) = (up(dev, &g.vec(n, -20.0, 30.0))?, zeros(dev, n)?, zeros(dev, rows)?);
            ops::ln_plain_forward(dev, x, nhat, r, rows, width)?;
            out.push((format!("ln_plain_forward n̂ ({tag})"), down(dev, nhat, n)?));
            let d = up(dev, &g.vec(n, -1.0, 1.0))?;
            ops::ln_plain_backward(dev, d, nhat, r, rows, width)?;
            out.push((format!("ln_plain_backward dx ({tag})"), down(dev, d, n)?));
        }
    }
    for (rows, n_out, n_in) in [(512, 256, 256), (37, 64, 45)] {
        let tag = format!("{rows}×{n_out}×{n_in}");
        let (x, w, dy) = (
            up(dev, &g.vec(rows * n_in, -1.0, 1.0))?,
            up(dev, &g.vec(n_out * n_in, -0.1, 0.1))?,
            up(dev, &g.vec(rows * n_out, -1.0, 1.0))?,
        );
        let (y, dw, dx) = (zeros(dev, rows * n_out)?, zeros(dev, n_out * n_in)?, zeros(dev, rows * n_in)?);
        ops::linear_forward(dev, x, w, y, rows, n_out, n_in)?;
        ops::linear_weight_grad(dev, dy, x, dw, rows, n_out, n_in)?;
        ops::linear_input_grad(dev, dy, w, dx, rows, n_out, n_in)?;
        out.push((format!("gemm x·wᵀ ({tag})"), down(dev, y, rows * n_out)?));
        out.push((format!("gemm dyᵀ·x ({tag})"), down(dev, dw, n_out * n_in)?));
        out.push((format!("gemm dy·w ({tag})"), down(dev, dx, rows * n_in)?));
    }
    {
        let n = 1_000_037;
        let (p, gr, m, v, st) = (
            up(dev, &g.vec(n, -1.0, 1.0))?,
            up(dev, &g.vec(n, -1.0, 1.0))?,
            zeros(dev, n)?,
            zeros(dev, n)?,
            zeros(dev, 3)?,
        );
        // A warm-up of 2 steps: the first step at half the learning rate.
        for _ in 0..3 {
            ops::adam_tick(dev, st, 0.9, 0.999, 2)?;
            ops::adam_step(dev, p, gr, m, v, st, n, [3e-4, 0.9, 0.999, 1e-8])?;
        }
        out.push(("adam_step params after 3 steps".into(), down(dev, p, n)?));
        out.push(("adam_step v after 3 steps".into(), down(dev, v, n)?));
    }
    for (rows, a, s) in [(512, 2, 4), (37, 17, 45)] {
        let tag = format!("rows {rows}, actions {a}");
        let n = rows * a;
        let h = ActorHead {
            mean: up(dev, &g.vec(n, -1.5, 1.5))?,
            raw: up(dev, &g.vec(n, -3.0, 3.0))?,
            noise: up(dev, &g.vec(n, -2.0, 2.0))?,
            t: zeros(dev, n)?,
            std: zeros(dev, n)?,
            action: zeros(dev, n)?,
            log_prob: zeros(dev, rows)?,
        };
        ops::actor_sample(dev, &h, rows, a)?;
        out.push((format!("actor_sample action ({tag})"), down(dev, h.action, n)?));
        out.push((format!("actor_sample log π ({tag})"), down(dev, h.log_prob, rows)?));
        let (d_in, la) = (up(dev, &g.vec(rows * (s + a), -1.0, 1.0))?, up(dev, &[-1.3])?);
        let (dm, dr) = (zeros(dev, n)?, zeros(dev, n)?);
        ops::actor_sample_backward(dev, &h, d_in, s + a, s, la, dm, dr, rows, a, rows)?;
        out.push((format!("actor_sample_backward d mean ({tag})"), down(dev, dm, n)?));
        out.push((format!("actor_sample_backward d raw ({tag})"), down(dev, dr, n)?));
    }
    for b in [37, 512] {
        let dim = 64;
        let tag = format!("batch {b}");
        let (phi, psi) = (up(dev, &g.vec(b * dim, -1.0, 1.0))?, up(dev, &g.vec(b * dim, -1.0, 1.0))?);
        let (q, dq, stats) = (zeros(dev, b)?, zeros(dev, b * dim)?, zeros(dev, STATS_LEN)?);
        ops::q_and_grad(dev, phi, psi, q, dq, b, dim, b)?;
        let (lp, la, grad) = (up(dev, &g.vec(b, -4.0, 2.0))?, up(dev, &[0.2])?, zeros(dev, 1)?);
        ops::actor_alpha(dev, lp, q, la, -1.0, grad, stats, b, b)?;
        let scratch = InfoNce { dist: zeros(dev, b * b)?, coef: zeros(dev, b * b)?, row_stats: zeros(dev, 5 * b)? };
        let (dp, ds) = (zeros(dev, b * dim)?, zeros(dev, b * dim)?);
        ops::infonce(dev, &scratch, phi, psi, dp, ds, stats, b, dim)?;
        out.push((format!("q_and_grad Q ({tag})"), down(dev, q, b)?));
        out.push((format!("q_and_grad dφ ({tag})"), down(dev, dq, b * dim)?));
        out.push((format!("actor_alpha + infonce statistics ({tag})"), down(dev, stats, STATS_LEN)?));
        out.push((format!("infonce dφ ({tag})"), down(dev, dp, b * dim)?));
        out.push((format!("infonce dψ ({tag})"), down(dev, ds, b * dim)?));
    }
    {
        let (rows, da, db) = (512, 45, 17);
        let (a, b) = (up(dev, &g.vec(rows * da, -1.0, 1.0))?, up(dev, &g.vec(rows * db, -1.0, 1.0))?);
        let cat = zeros(dev, rows * (da + db))?;
        ops::concat_rows(dev, cat, a, da, b, db, rows)?;
        ops::add_bias(dev, a, b, rows, da)?;
        ops::add(dev, a, a, a, rows * da)?;
        out.push(("concat_rows".into(), down(dev, cat, rows * (da + db))?));
        out.push(("add_bias then add".into(), down(dev, a, rows * da)?));
    }
    Ok(out)
}

/// Worst |gpu − cpu| / max(1, |cpu|) of one output.
pub fn worst(gpu: &[f32], cpu: &[f32]) -> f64 {
    gpu.iter()
        .zip(cpu)
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs() / f64::from(b.abs()).max(1.0))
        .fold(0.0, f64::max)
}
