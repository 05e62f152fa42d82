//! Times one full CRL update (actor + α + critic, Adam) on the fast CPU path, with the same sizes,
//! warm-up and median as `shared/peers/torch_crl_step.py`, and prints one JSON line. With
//! `--matmul`, also times a plain 256×256×256 gemm through the same backend (one thread, and split
//! over the threads) and reports the share of the better ceiling the update achieves.
//!
//! `cargo run --release -p models --example bench_step -- --depth 16 --batch 256 --threads 2 --matmul`

use std::time::Instant;

use anyhow::{bail, Context, Result};
use models::fast::matmul::x_wt;
use models::fast::{FastTrainer, Threads};
use models::{AdamConfig, CrlBatch, Model, ModelConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Args {
    depth: usize,
    width: usize,
    batch: usize,
    steps: usize,
    warmup: usize,
    threads: usize,
    matmul: bool,
}

fn parse() -> Result<Args> {
    let mut a = Args { depth: 16, width: 256, batch: 256, steps: 20, warmup: 3, threads: 2, matmul: false };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--matmul" {
            a.matmul = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            println!("bench_step [--depth 16] [--width 256] [--batch 256] [--steps 20] [--warmup 3] [--threads 2] [--matmul]");
            std::process::exit(0);
        }
        let v: usize = it.next().with_context(|| format!("{flag} needs a value"))?.parse().context(flag.clone())?;
        match flag.as_str() {
            "--depth" => a.depth = v,
            "--width" => a.width = v,
            "--batch" => a.batch = v,
            "--steps" => a.steps = v,
            "--warmup" => a.warmup = v,
            "--threads" => a.threads = v,
            _ => bail!("unknown flag {flag}; try --help"),
        }
    }
    Ok(a)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// GFLOP/s of `y = x wᵀ` at m = n = k = `n`, median of repeated runs.
fn matmul_rate(n: usize, threads: usize) -> f64 {
    let x = vec![0.5f32; n * n];
    let w = vec![0.25f32; n * n];
    let mut y = vec![0f32; n * n];
    let th = Threads::new(threads);
    let times: Vec<f64> = (0..200)
        .map(|_| {
            let t = Instant::now();
            x_wt(n, n, n, &x, &w, &mut y, th.gemm);
            t.elapsed().as_secs_f64()
        })
        .collect();
    2.0 * (n * n * n) as f64 / median(times) / 1e9
}

fn main() -> Result<()> {
    let a = parse()?;
    let cfg = ModelConfig::point_maze(a.depth).with_width(a.width);
    let mut trainer = FastTrainer::new(Model::init(&cfg, 0)?, AdamConfig::default(), a.threads)?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut rand = |n: usize| (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<f32>>();
    let b = a.batch;
    let (s, act, g, e) = (rand(b * 4), rand(b * 2), rand(b * 2), rand(b * 2));
    let batch = CrlBatch { states: &s, actions: &act, goals: &g, noise: &e };
    for _ in 0..a.warmup {
        trainer.step(&batch)?;
    }
    let times: Vec<f64> = (0..a.steps)
        .map(|_| {
            let t = Instant::now();
            trainer.step(&batch).map(|_| t.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<_, _>>()?;
    let (min, max) = times.iter().fold((f64::MAX, 0f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
    let ms = median(times);
    // Eleven W×W matmuls per block layer: four trunk forwards (actor, ψ, φ on π's action, φ on the
    // replay action) and seven backward products (actor dW+dX, φ(π) dX, φ dW+dX, ψ dW+dX).
    let gflop = 11.0 * a.depth as f64 * 2.0 * (b * a.width * a.width) as f64 / 1e9;
    let mut line = format!(
        "{{\"impl\":\"deepcrl\",\"depth\":{},\"width\":{},\"batch\":{b},\"threads\":{},\"ms_per_step\":{ms:.3},\"ms_min\":{min:.3},\"ms_max\":{max:.3},\"gflop_per_step\":{gflop:.3},\"gflops\":{:.1}",
        a.depth, a.width, a.threads, gflop / ms * 1e3
    );
    if a.matmul {
        // The ceiling is the better of gemm's own split over the threads and perfect scaling of
        // its one-thread rate (the update runs whole trunks in parallel, not split matmuls).
        let one = matmul_rate(256, 1);
        let split = matmul_rate(256, a.threads);
        let ceiling = split.max(one * a.threads as f64);
        line += &format!(
            ",\"matmul256_gflops_1t\":{one:.1},\"matmul256_gflops_split\":{split:.1},\"fraction_of_matmul\":{:.3}",
            gflop / ms * 1e3 / ceiling
        );
    }
    println!("{line}}}");
    Ok(())
}
