//! The GPU kernels' own source, run on the CPU by the fiber shim, against the fused CPU path
//! (`models::fast`) that training uses today. Shapes include odd batch sizes, an odd width (a
//! width-pruned layer) and the widths 64, 256 and 1024 of issue 16.
//!
//! Tolerance: |kernel − fused| ≤ 1e-5 · max(1, |fused|). The two differ only in summation order
//! (a shared-memory tree against eight SIMD lanes) and in exp (libm's expf against the fused path's
//! polynomial), both a few ulp.

use kernels::cpu;
use models::crl::{Adam, AdamConfig};
use models::fast::norm_act::{self, NormGrads};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TOL: f32 = 1e-5;
const ROWS: [usize; 3] = [1, 37, 130];
const WIDTHS: [usize; 4] = [64, 100, 256, 1024];

fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let (mut worst, mut at) = (0f32, 0);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g.is_finite(), "{what}[{i}] = {g}");
        let err = (g - w).abs() / w.abs().max(1.0);
        if err > worst {
            (worst, at) = (err, i);
        }
    }
    assert!(worst <= TOL, "{what}: worst scaled error {worst:e} at {at} (kernel {}, fused {})", got[at], want[at]);
}

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
    for rows in ROWS {
        for width in WIDTHS {
            let l = layer(rows, width, (rows * 10_000 + width) as u64);
            let (mut z_k, mut rstd_k, mut act_k) = (l.z.clone(), vec![0.0; rows], vec![0.0; rows * width]);
            cpu::ln_silu_forward(&mut z_k, &l.bias, &l.gamma, &l.beta, &mut rstd_k, &mut act_k, rows, width).unwrap();
            let (mut z_f, mut rstd_f, mut act_f) = (l.z.clone(), vec![0.0; rows], vec![0.0; rows * width]);
            norm_act::forward(&mut z_f, &l.bias, &l.gamma, &l.beta, &mut rstd_f, &mut act_f, width, false);
            let at = format!("rows {rows}, width {width}");
            assert_close(&format!("n̂ ({at})"), &z_k, &z_f);
            assert_close(&format!("rstd ({at})"), &rstd_k, &rstd_f);
            assert_close(&format!("act ({at})"), &act_k, &act_f);
        }
    }
}

#[test]
fn ln_silu_backward_and_its_parameter_gradients_match_the_fused_cpu_path() {
    for rows in ROWS {
        for width in WIDTHS {
            let l = layer(rows, width, (rows * 7_919 + width) as u64);
            // n̂ and r from the fused forward, so both backwards start from the same tape.
            let (mut nhat, mut rstd, mut act) = (l.z.clone(), vec![0.0; rows], vec![0.0; rows * width]);
            norm_act::forward(&mut nhat, &l.bias, &l.gamma, &l.beta, &mut rstd, &mut act, width, false);
            let mut rng = ChaCha8Rng::seed_from_u64(rows as u64 ^ width as u64);
            let da = uniform(&mut rng, rows * width, -1.0, 1.0);

            let (mut d_k, mut grads_k, mut partial) = (da.clone(), vec![0.0; 3 * width], Vec::new());
            cpu::ln_silu_backward(
                &mut d_k,
                &nhat,
                &rstd,
                &l.gamma,
                &l.beta,
                Some((&mut grads_k, &mut partial)),
                rows,
                width,
            )
            .unwrap();

            let mut d_f = da.clone();
            let (mut g_gamma, mut g_beta, mut g_bias) = (vec![0.0; width], vec![0.0; width], vec![0.0; width]);
            let grads = NormGrads { gamma: &mut g_gamma, beta: &mut g_beta, bias: &mut g_bias };
            norm_act::backward(&mut d_f, &nhat, &rstd, &l.gamma, &l.beta, width, Some(grads), false, &mut Vec::new());
            let at = format!("rows {rows}, width {width}");
            assert_close(&format!("dz ({at})"), &d_k, &d_f);
            assert_close(&format!("dγ ({at})"), &grads_k[..width], &g_gamma);
            assert_close(&format!("dβ ({at})"), &grads_k[width..2 * width], &g_beta);
            assert_close(&format!("dbias ({at})"), &grads_k[2 * width..], &g_bias);

            // Without gradients (the first layer's input needs none): the same dz.
            let mut d_n = da.clone();
            cpu::ln_silu_backward(&mut d_n, &nhat, &rstd, &l.gamma, &l.beta, None, rows, width).unwrap();
            assert_eq!(d_n, d_k, "dz with and without parameter gradients ({at})");
        }
    }
}

#[test]
fn adam_matches_the_cpu_optimiser_over_several_steps() {
    let n = 1_000 + 37; // not a multiple of the block
    let cfg = AdamConfig { lr: 3e-4, ..AdamConfig::default() };
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let start = uniform(&mut rng, n, -1.0, 1.0);
    let mut reference = Adam::new(cfg, n);
    let mut p_ref = start.clone();
    let (mut p, mut m, mut v, mut state) = (start, vec![0.0; n], vec![0.0; n], [0f32; 3]);
    for step in 1..=5 {
        let g = uniform(&mut rng, n, -2.0, 2.0);
        reference.step(&mut p_ref, &g);
        cpu::adam_tick(&mut state, cfg.beta1, cfg.beta2).unwrap();
        cpu::adam_step(&mut p, &g, &mut m, &mut v, &state, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps).unwrap();
        assert_eq!(state[0], step as f32, "the device-side step count");
        assert_close(&format!("params after step {step}"), &p, &p_ref);
        assert_close(&format!("m after step {step}"), &m, &reference.m);
        assert_close(&format!("v after step {step}"), &v, &reference.v);
    }
}

#[test]
fn sum_partials_adds_blocks_in_order() {
    let partial: Vec<f32> = (0..3 * 300).map(|i| i as f32).collect();
    let mut out = vec![0.0; 300];
    cpu::sum_partials(&partial, &mut out, 3, 300).unwrap();
    assert!(out.iter().enumerate().all(|(i, &s)| s == (3 * i + 900) as f32));
}

#[test]
fn bad_shapes_are_errors_that_name_the_kernel_and_the_buffer() {
    let l = layer(4, 64, 1);
    let (mut z, mut rstd, mut act) = (l.z.clone(), vec![0.0; 3], vec![0.0; 4 * 64]);
    let e = cpu::ln_silu_forward(&mut z, &l.bias, &l.gamma, &l.beta, &mut rstd, &mut act, 4, 64).unwrap_err();
    assert_eq!(e.to_string(), "kernel ln_silu_forward: rstd holds 3 values, needs 4");
    let e = cpu::ln_silu_forward(&mut z, &l.bias, &l.gamma, &l.beta, &mut rstd, &mut act, 1, 5000).unwrap_err();
    assert!(e.to_string().contains("width 5000"), "{e}");
    let e = cpu::adam_step(&mut [0.0; 4], &[0.0; 3], &mut [0.0; 4], &mut [0.0; 4], &[1.0; 3], 1e-3, 0.9, 0.999, 1e-8)
        .unwrap_err();
    assert!(e.to_string().contains("grads holds 3 values"), "{e}");
}

#[test]
fn the_shim_runs_real_barriers_and_reports_a_barrier_some_threads_skip() {
    for (grid, block) in [(1, 32), (3, 256), (2, 1024)] {
        let out = cpu::selftest::mirror(grid, block).unwrap();
        for (i, &v) in out.iter().enumerate() {
            let (b, t) = (i as u32 / block, i as u32 % block);
            assert_eq!(v, (b * 10_000 + t + 1) as i32, "block {b}, thread {t} of {block}");
        }
    }
    let e = cpu::selftest::diverge(64).unwrap_err().to_string();
    assert!(e.contains("__syncthreads reached by 63 of 64 threads"), "{e}");
    assert!(cpu::selftest::mirror(1, 2048).unwrap_err().to_string().contains("bad launch"));
}
