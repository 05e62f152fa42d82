//! The head, loss and element-wise kernels (CPU device) against `models::fast::heads` and plain
//! loops: the actor's tanh-Gaussian sample and its backward, Q through φ, α's gradient, the InfoNCE
//! + logsumexp² critic loss, the Linear products, and the small element-wise kernels.

mod common;

use common::{assert_close, assert_close_tol, get, put, uniform};
use kernels::cpu::CpuDevice;
use kernels::device::Device;
use kernels::ops::{self, ActorHead, InfoNce, STATS_LEN};
use models::fast::heads::{q_and_grad, ActorSample, CriticLoss};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn the_actor_sample_and_its_backward_match_the_fused_heads() {
    let mut dev = CpuDevice::new();
    for (rows, a_dim, s_dim) in [(1, 2, 4), (37, 2, 4), (130, 17, 45)] {
        let mut rng = ChaCha8Rng::seed_from_u64(rows as u64);
        let n = rows * a_dim;
        let (mean, raw, noise) =
            (uniform(&mut rng, n, -1.5, 1.5), uniform(&mut rng, n, -3.0, 3.0), uniform(&mut rng, n, -2.0, 2.0));
        let mut fused = ActorSample::default();
        fused.compute(&mean, &raw, &noise, a_dim);

        let h = ActorHead {
            mean: put(&mut dev, &mean).into(),
            raw: put(&mut dev, &raw).into(),
            noise: put(&mut dev, &noise).into(),
            t: dev.alloc(n).unwrap().into(),
            std: dev.alloc(n).unwrap().into(),
            action: dev.alloc(n).unwrap().into(),
            log_prob: dev.alloc(rows).unwrap().into(),
        };
        ops::actor_sample(&mut dev, &h, rows, a_dim).unwrap();
        let at = format!("rows {rows}, actions {a_dim}");
        let read = |dev: &mut CpuDevice, p: kernels::device::Ptr| get(dev, p.buf);
        assert_close(&format!("t ({at})"), &read(&mut dev, h.t), &fused.t);
        assert_close(&format!("std ({at})"), &read(&mut dev, h.std), &fused.std);
        assert_close(&format!("action ({at})"), &read(&mut dev, h.action), &fused.action);
        assert_close(&format!("log π ({at})"), &read(&mut dev, h.log_prob), &fused.log_prob);

        // Backward: d(action) from the action columns of φ's input gradient, d(log π) = α/rows.
        let stride = s_dim + a_dim;
        let d_sa_in = uniform(&mut rng, rows * stride, -1.0, 1.0);
        let log_alpha = -1.3f32;
        let d_action: Vec<f32> = d_sa_in.chunks_exact(stride).flat_map(|r| r[s_dim..].to_vec()).collect();
        // These rows as one data-parallel rank's of a batch of 2·rows (the whole device step tests
        // the batch of its own rows).
        let batch = 2 * rows;
        let d_log_prob = vec![log_alpha.exp() * (1.0 / batch as f32); rows];
        let (mut dm_f, mut dr_f) = (vec![0.0; n], vec![0.0; n]);
        fused.backward(&d_action, &d_log_prob, &noise, a_dim, &mut dm_f, &mut dr_f);
        let (d_in, la) = (put(&mut dev, &d_sa_in), put(&mut dev, &[log_alpha]));
        let (dm, dr) = (dev.alloc(n).unwrap(), dev.alloc(n).unwrap());
        ops::actor_sample_backward(
            &mut dev,
            &h,
            d_in.into(),
            stride,
            s_dim,
            la.into(),
            dm.into(),
            dr.into(),
            rows,
            a_dim,
            batch,
        )
        .unwrap();
        assert_close(&format!("d mean ({at})"), &get(&mut dev, dm), &dm_f);
        assert_close(&format!("d raw ({at})"), &get(&mut dev, dr), &dr_f);
    }
}

#[test]
fn q_and_alpha_match_the_fused_actor_loss() {
    let mut dev = CpuDevice::new();
    // 130 rows of a data-parallel batch of 390: every mean is over the whole batch.
    let (rows, dim, batch) = (130, 64, 390);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (phi, psi) = (uniform(&mut rng, rows * dim, -1.0, 1.0), uniform(&mut rng, rows * dim, -1.0, 1.0));
    let (mut q_f, mut dphi_f) = (vec![0.0; rows], vec![0.0; rows * dim]);
    q_and_grad(&phi, &psi, dim, 1.0 / batch as f32, &mut q_f, &mut dphi_f);
    let (p, s, q, dphi) =
        (put(&mut dev, &phi), put(&mut dev, &psi), dev.alloc(rows).unwrap(), dev.alloc(rows * dim).unwrap());
    ops::q_and_grad(&mut dev, p.into(), s.into(), q.into(), dphi.into(), rows, dim, batch).unwrap();
    assert_close("Q", &get(&mut dev, q), &q_f);
    assert_close("dφ", &get(&mut dev, dphi), &dphi_f);

    let log_prob = uniform(&mut rng, rows, -4.0, 2.0);
    let (lp, la, grad, stats) =
        (put(&mut dev, &log_prob), put(&mut dev, &[0.2]), dev.alloc(1).unwrap(), dev.alloc(STATS_LEN).unwrap());
    let target = -1.0;
    ops::actor_alpha(&mut dev, lp.into(), q.into(), la.into(), target, grad.into(), stats.into(), rows, batch).unwrap();
    let mean_lp = log_prob.iter().sum::<f32>() / batch as f32;
    let mean_q = q_f.iter().sum::<f32>() / batch as f32;
    let alpha = 0.2f32.exp();
    let want_grad = alpha * (-mean_lp - target);
    assert_close("α's gradient", &get(&mut dev, grad), &[want_grad]);
    assert_close("stats[4..8)", &get(&mut dev, stats)[4..], &[mean_lp, mean_q, alpha, want_grad]);
}

/// A block of rows (one data-parallel rank's) against the fused loss's same block: dφ of the block's
/// rows, the block's share of dψ and of the statistics.
#[test]
fn a_row_block_of_the_infonce_loss_matches_the_fused_block() {
    let mut dev = CpuDevice::new();
    for (rows, offset, n, dim) in [(16, 16, 32, 8), (5, 10, 15, 64), (37, 0, 130, 64)] {
        let mut rng = ChaCha8Rng::seed_from_u64((rows * n) as u64);
        let (phi, mut psi) = (uniform(&mut rng, rows * dim, -1.0, 1.0), uniform(&mut rng, n * dim, -1.0, 1.0));
        // The block's first positive pair close, where 1/d is large.
        psi[offset * dim..(offset + 1) * dim].iter_mut().zip(&phi[..dim]).for_each(|(s, p)| *s = p + 1e-3);
        let mut fused = CriticLoss::default();
        let (mut dphi_f, mut dpsi_f) = (vec![0.0; rows * dim], vec![0.0; n * dim]);
        let block = ops::Rows { rows, offset, n };
        let sums = fused.compute_block(&phi, &psi, block, dim, &mut dphi_f, &mut dpsi_f);
        let k = n as f64;
        let shares = [sums.loss / k, sums.correct / k, sums.pos / k, (sums.total - sums.pos) / (k * (k - 1.0))];

        let scratch = InfoNce {
            dist: dev.alloc(rows * n).unwrap().into(),
            coef: dev.alloc(rows * n).unwrap().into(),
            row_stats: dev.alloc(5 * rows).unwrap().into(),
        };
        let (p, s) = (put(&mut dev, &phi), put(&mut dev, &psi));
        let (dp, ds, stats) =
            (dev.alloc(rows * dim).unwrap(), dev.alloc(n * dim).unwrap(), dev.alloc(STATS_LEN).unwrap());
        ops::infonce_rows(&mut dev, &scratch, p.into(), s.into(), dp.into(), ds.into(), stats.into(), block, dim)
            .unwrap();
        let at = format!("rows {offset}..{} of {n}, dim {dim}", offset + rows);
        assert_close(
            &format!("shares of the statistics ({at})"),
            &get(&mut dev, stats)[..4],
            &shares.map(|v| v as f32),
        );
        assert_close(&format!("dφ ({at})"), &get(&mut dev, dp), &dphi_f);
        assert_close(&format!("dψ ({at})"), &get(&mut dev, ds), &dpsi_f);
    }
    let scratch = InfoNce {
        dist: dev.alloc(4).unwrap().into(),
        coef: dev.alloc(4).unwrap().into(),
        row_stats: dev.alloc(10).unwrap().into(),
    };
    let buf = dev.alloc(64).unwrap();
    let outside = ops::Rows { rows: 2, offset: 3, n: 4 };
    let e =
        ops::infonce_rows(&mut dev, &scratch, buf.into(), buf.into(), buf.into(), buf.into(), buf.into(), outside, 2);
    assert!(e.unwrap_err().to_string().contains("not inside a batch of 4"));
}

#[test]
fn the_infonce_loss_and_its_gradients_match_the_fused_critic_loss() {
    let mut dev = CpuDevice::new();
    for (b, dim) in [(2, 8), (37, 64), (130, 64)] {
        let mut rng = ChaCha8Rng::seed_from_u64(b as u64 * 31);
        let (phi, mut psi) = (uniform(&mut rng, b * dim, -1.0, 1.0), uniform(&mut rng, b * dim, -1.0, 1.0));
        // A close positive pair, where 1/d is large and the cancellation the kernels avoid would show.
        psi[..dim].iter_mut().zip(&phi[..dim]).for_each(|(s, p)| *s = p + 1e-3);
        let mut fused = CriticLoss::default();
        let (mut dphi_f, mut dpsi_f) = (vec![0.0; b * dim], vec![0.0; b * dim]);
        fused.compute(&phi, &psi, b, dim, &mut dphi_f, &mut dpsi_f);

        let scratch = InfoNce {
            dist: dev.alloc(b * b).unwrap().into(),
            coef: dev.alloc(b * b).unwrap().into(),
            row_stats: dev.alloc(5 * b).unwrap().into(),
        };
        let (p, s) = (put(&mut dev, &phi), put(&mut dev, &psi));
        let (dp, ds, stats) = (dev.alloc(b * dim).unwrap(), dev.alloc(b * dim).unwrap(), dev.alloc(STATS_LEN).unwrap());
        ops::infonce(&mut dev, &scratch, p.into(), s.into(), dp.into(), ds.into(), stats.into(), b, dim).unwrap();
        let at = format!("batch {b}, dim {dim}");
        let st = get(&mut dev, stats);
        assert_close(
            &format!("loss, accuracy, logits ({at})"),
            &st[..4],
            &[fused.loss, fused.accuracy, fused.logits_pos, fused.logits_neg],
        );
        assert_close(&format!("dφ ({at})"), &get(&mut dev, dp), &dphi_f);
        assert_close(&format!("dψ ({at})"), &get(&mut dev, ds), &dpsi_f);
    }
}

#[test]
fn the_three_linear_products_match_plain_loops() {
    let mut dev = CpuDevice::new();
    let (batch, n_out, n_in) = (37, 24, 45);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (x, w, dy) = (
        uniform(&mut rng, batch * n_in, -1.0, 1.0),
        uniform(&mut rng, n_out * n_in, -1.0, 1.0),
        uniform(&mut rng, batch * n_out, -1.0, 1.0),
    );
    let dot = |f: &dyn Fn(usize) -> f64, n: usize| (0..n).map(f).sum::<f64>() as f32;
    let y_ref: Vec<f32> = (0..batch * n_out)
        .map(|i| dot(&|l| (x[i / n_out * n_in + l] * w[i % n_out * n_in + l]) as f64, n_in))
        .collect();
    let dw_ref: Vec<f32> = (0..n_out * n_in)
        .map(|i| dot(&|r| (dy[r * n_out + i / n_in] * x[r * n_in + i % n_in]) as f64, batch))
        .collect();
    let dx_ref: Vec<f32> = (0..batch * n_in)
        .map(|i| dot(&|o| (dy[i / n_in * n_out + o] * w[o * n_in + i % n_in]) as f64, n_out))
        .collect();
    let (xb, wb, dyb) = (put(&mut dev, &x), put(&mut dev, &w), put(&mut dev, &dy));
    let (y, dw, dx) =
        (dev.alloc(batch * n_out).unwrap(), dev.alloc(n_out * n_in).unwrap(), dev.alloc(batch * n_in).unwrap());
    ops::linear_forward(&mut dev, xb.into(), wb.into(), y.into(), batch, n_out, n_in).unwrap();
    ops::linear_weight_grad(&mut dev, dyb.into(), xb.into(), dw.into(), batch, n_out, n_in).unwrap();
    ops::linear_input_grad(&mut dev, dyb.into(), wb.into(), dx.into(), batch, n_out, n_in).unwrap();
    assert_close_tol("y = x·wᵀ", &get(&mut dev, y), &y_ref, 1e-5);
    assert_close_tol("dw = dyᵀ·x", &get(&mut dev, dw), &dw_ref, 1e-5);
    assert_close_tol("dx = dy·w", &get(&mut dev, dx), &dx_ref, 1e-5);
    // An output overlapping an input is refused before anything runs.
    let e = ops::linear_forward(&mut dev, xb.into(), wb.into(), xb.at(1), 2, 3, 4).unwrap_err();
    assert!(e.to_string().contains("overlaps"), "{e}");
}

#[test]
fn the_element_wise_kernels_do_what_they_say() {
    let mut dev = CpuDevice::new();
    let (rows, da, db) = (5, 3, 2);
    let a: Vec<f32> = (0..rows * da).map(|i| i as f32).collect();
    let b: Vec<f32> = (0..rows * db).map(|i| 100.0 + i as f32).collect();
    let (ab, bb, out) = (put(&mut dev, &a), put(&mut dev, &b), dev.alloc(rows * (da + db)).unwrap());
    ops::concat_rows(&mut dev, out.into(), ab.into(), da, bb.into(), db, rows).unwrap();
    let want: Vec<f32> =
        (0..rows).flat_map(|r| [&a[r * da..(r + 1) * da], &b[r * db..(r + 1) * db]].concat()).collect();
    assert_eq!(get(&mut dev, out), want);

    ops::add_bias(&mut dev, ab.into(), bb.into(), rows, da).unwrap();
    let want: Vec<f32> = a.iter().enumerate().map(|(i, v)| v + b[i % da]).collect();
    assert_eq!(get(&mut dev, ab), want);

    ops::add(&mut dev, ab.into(), ab.into(), ab.into(), rows * da).unwrap();
    assert_eq!(get(&mut dev, ab), want.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
}
