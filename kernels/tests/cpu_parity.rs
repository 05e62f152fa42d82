//! The GPU kernels' own source, run on the CPU device (fiber shim), against the fused CPU path
//! (`models::fast`) that training uses today. Shapes include odd batch sizes, an odd width (a
//! width-pruned layer) and the widths 64, 256 and 1024 of issue 16.
//!
//! Tolerance: |kernel − fused| ≤ 1e-5 · max(1, |fused|). The two differ only in summation order
//! (a shared-memory tree against eight SIMD lanes) and in exp (libm's expf against the fused path's
//! polynomial), both a few ulp.

mod common;

use common::{assert_close, get, put, uniform};
use kernels::cpu::CpuDevice;
use kernels::device::Device;
use kernels::ops;
use models::crl::{Adam, AdamConfig};
use models::fast::head_norm;
use models::fast::norm_act::{self, NormGrads};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const ROWS: [usize; 3] = [1, 37, 130];
const WIDTHS: [usize; 4] = [64, 100, 256, 1024];

/// Layer parameters and a Linear output with a non-zero mean and spread per row, as in a trunk.
struct Layer {
    z: Vec<f32>,
    bias: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

fn layer(rows: usize, width: usize, seed: u64) -> Layer {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut z = uniform(&mut rng, rows * width, -2.0, 2.0);
    for (r, row) in z.chunks_exact_mut(width).enumerate() {
        let (shift, scale) = (0.3 * r as f32 % 1.7, 0.5 + (r % 5) as f32);
        row.iter_mut().for_each(|x| *x = *x * scale + shift);
    }
    Layer {
        z,
        bias: uniform(&mut rng, width, -0.5, 0.5),
        gamma: uniform(&mut rng, width, 0.5, 1.5),
        beta: uniform(&mut rng, width, -0.3, 0.3),
    }
}

#[test]
fn ln_silu_forward_matches_the_fused_cpu_path() {
    let mut dev = CpuDevice::new();
    for rows in ROWS {
        for width in WIDTHS {
            let l = layer(rows, width, (rows * 10_000 + width) as u64);
            let n = rows * width;
            let (z, bias, gamma, beta) =
                (put(&mut dev, &l.z), put(&mut dev, &l.bias), put(&mut dev, &l.gamma), put(&mut dev, &l.beta));
            let (rstd, act) = (dev.alloc(rows).unwrap(), dev.alloc(n).unwrap());
            ops::ln_forward(
                &mut dev,
                z.into(),
                bias.into(),
                gamma.into(),
                beta.into(),
                rstd.into(),
                act.into(),
                rows,
                width,
            )
            .unwrap();
            let (mut z_f, mut rstd_f, mut act_f) = (l.z.clone(), vec![0.0; rows], vec![0.0; n]);
            norm_act::forward(&mut z_f, &l.bias, &l.gamma, &l.beta, &mut rstd_f, &mut act_f, width, false);
            let at = format!("rows {rows}, width {width}");
            assert_close(&format!("n̂ ({at})"), &get(&mut dev, z), &z_f);
            assert_close(&format!("rstd ({at})"), &get(&mut dev, rstd), &rstd_f);
            assert_close(&format!("act ({at})"), &get(&mut dev, act), &act_f);
        }
    }
}

#[test]
fn ln_silu_backward_and_its_parameter_gradients_match_the_fused_cpu_path() {
    let mut dev = CpuDevice::new();
    for rows in ROWS {
        for width in WIDTHS {
            let l = layer(rows, width, (rows * 7_919 + width) as u64);
            let n = rows * width;
            // n̂ and r from the fused forward, so both backwards start from the same tape.
            let (mut nhat, mut rstd, mut act) = (l.z.clone(), vec![0.0; rows], vec![0.0; n]);
            norm_act::forward(&mut nhat, &l.bias, &l.gamma, &l.beta, &mut rstd, &mut act, width, false);
            let mut rng = ChaCha8Rng::seed_from_u64(rows as u64 ^ width as u64);
            let da = uniform(&mut rng, n, -1.0, 1.0);

            let (d, nh, rs) = (put(&mut dev, &da), put(&mut dev, &nhat), put(&mut dev, &rstd));
            let (gamma, beta) = (put(&mut dev, &l.gamma), put(&mut dev, &l.beta));
            let (partial, grads) =
                (dev.alloc(ops::ln_partial_len(rows, width)).unwrap(), dev.alloc(3 * width).unwrap());
            let tape = (d.into(), nh.into(), rs.into(), gamma.into(), beta.into());
            ops::ln_backward(
                &mut dev,
                tape.0,
                tape.1,
                tape.2,
                tape.3,
                tape.4,
                Some((partial.into(), grads.into())),
                rows,
                width,
            )
            .unwrap();

            let mut d_f = da.clone();
            let (mut g_gamma, mut g_beta, mut g_bias) = (vec![0.0; width], vec![0.0; width], vec![0.0; width]);
            let ng = NormGrads { gamma: &mut g_gamma, beta: &mut g_beta, bias: &mut g_bias };
            norm_act::backward(&mut d_f, &nhat, &rstd, &l.gamma, &l.beta, width, Some(ng), false, &mut Vec::new());
            let at = format!("rows {rows}, width {width}");
            let dz = get(&mut dev, d);
            let g = get(&mut dev, grads);
            assert_close(&format!("dz ({at})"), &dz, &d_f);
            assert_close(&format!("dbias ({at})"), &g[..width], &g_bias);
            assert_close(&format!("dγ ({at})"), &g[width..2 * width], &g_gamma);
            assert_close(&format!("dβ ({at})"), &g[2 * width..], &g_beta);

            // Without gradients (the first layer's input needs none): the same dz.
            let d2 = put(&mut dev, &da);
            ops::ln_backward(&mut dev, d2.into(), tape.1, tape.2, tape.3, tape.4, None, rows, width).unwrap();
            assert_eq!(get(&mut dev, d2), dz, "dz with and without parameter gradients ({at})");
        }
    }
}

#[test]
fn adam_matches_the_cpu_optimiser_over_several_steps() {
    // Without a warm-up, and with one of 3 steps (steps 1 and 2 at a third and two thirds of lr).
    for warmup_steps in [0, 3] {
        let mut dev = CpuDevice::new();
        let n = 1_000 + 37; // not a multiple of the block
        let cfg = AdamConfig { lr: 3e-4, warmup_steps, ..AdamConfig::default() };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let start = uniform(&mut rng, n, -1.0, 1.0);
        let mut reference = Adam::new(cfg, n);
        let mut p_ref = start.clone();
        let (p, g, m, v, state) = (
            put(&mut dev, &start),
            dev.alloc(n).unwrap(),
            dev.alloc(n).unwrap(),
            dev.alloc(n).unwrap(),
            dev.alloc(3).unwrap(),
        );
        for step in 1..=5 {
            let grads = uniform(&mut rng, n, -2.0, 2.0);
            let before = p_ref.clone();
            reference.step(&mut p_ref, &grads);
            dev.upload(g.into(), &grads).unwrap();
            ops::adam_tick(&mut dev, state.into(), cfg.beta1, cfg.beta2, warmup_steps).unwrap();
            let hyper = [cfg.lr, cfg.beta1, cfg.beta2, cfg.eps];
            ops::adam_step(&mut dev, p.into(), g.into(), m.into(), v.into(), state.into(), n, hyper).unwrap();
            let tag = format!("warm-up {warmup_steps}, step {step}");
            assert_eq!(get(&mut dev, state)[0], step as f32, "the device-side step count ({tag})");
            assert_close(&format!("params after {tag}"), &get(&mut dev, p), &p_ref);
            assert_close(&format!("m after {tag}"), &get(&mut dev, m), &reference.m);
            assert_close(&format!("v after {tag}"), &get(&mut dev, v), &reference.v);
            // Step 1 of Adam moves every parameter by lr·w(1) exactly (m̂/√v̂ = ±1).
            if step == 1 {
                let want = cfg.lr * if warmup_steps == 3 { 1.0 / 3.0 } else { 1.0 };
                let moved = (p_ref[0] - before[0]).abs();
                // To f32 rounding of parameters of order 1: ulp 1.2e-7 against a step of 1e-4.
                assert!((moved - want).abs() < 1e-2 * want, "{tag}: moved {moved}, want {want}");
            }
        }
    }
}

#[test]
fn sum_partials_adds_blocks_in_order() {
    let mut dev = CpuDevice::new();
    let partial: Vec<f32> = (0..3 * 300).map(|i| i as f32).collect();
    let (p, out) = (put(&mut dev, &partial), dev.alloc(300).unwrap());
    ops::sum_partials(&mut dev, p.into(), out.into(), 3, 300).unwrap();
    assert!(get(&mut dev, out).iter().enumerate().all(|(i, &s)| s == (3 * i + 900) as f32));
}

#[test]
fn the_plain_norm_before_the_heads_matches_the_cpu_path() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for &rows in &ROWS {
        for &width in &WIDTHS {
            let mut dev = CpuDevice::new();
            // A stream of some scale and offset, as a deep trunk's output.
            let x: Vec<f32> = uniform(&mut rng, rows * width, -1.0, 1.0).iter().map(|v| 7.0 * v + 2.0).collect();
            let d: Vec<f32> = uniform(&mut rng, rows * width, -1.0, 1.0);
            let (mut nhat, mut rstd) = (Vec::new(), Vec::new());
            head_norm::forward(&x, width, &mut nhat, &mut rstd);
            let mut want_d = d.clone();
            head_norm::backward(&mut want_d, &nhat, &rstd, width);
            let (xb, nb, rb, db) =
                (put(&mut dev, &x), dev.alloc(rows * width).unwrap(), dev.alloc(rows).unwrap(), put(&mut dev, &d));
            ops::ln_plain_forward(&mut dev, xb.into(), nb.into(), rb.into(), rows, width).unwrap();
            ops::ln_plain_backward(&mut dev, db.into(), nb.into(), rb.into(), rows, width).unwrap();
            let at = format!("rows {rows}, width {width}");
            assert_close(&format!("n̂, {at}"), &get(&mut dev, nb), &nhat);
            assert_close(&format!("r, {at}"), &get(&mut dev, rb), &rstd);
            assert_close(&format!("dx, {at}"), &get(&mut dev, db), &want_d);
        }
    }
}
