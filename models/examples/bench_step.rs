//! Times one full CRL update (actor + α + critic, Adam) on the fast CPU path, with the same sizes,
//! warm-up and median as `shared/peers/torch_crl_step.py`, and prints one JSON line. With
//! `--matmul`, also times a plain 256×256×256 gemm through the same backend (one thread, and split
//! over the threads) and reports the share of the better ceiling the update achieves.
//!
//! `cargo run --release -p models --example bench_step -- --depth 16 --batch 256 --threads 2 --matmul`

use anyhow::Result;
use clap::Parser;
use models::fast::matmul::x_wt;
use models::fast::{FastTrainer, Threads};
use models::timing::{time, time_calls};
use models::{AdamConfig, CrlBatch, Model, ModelConfig, ResidualInit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Time one full CRL update on the fused CPU path and print one JSON line.
#[derive(Parser)]
struct Args {
    /// Linear layers per trunk (a multiple of 4).
    #[arg(long, default_value_t = 16)]
    depth: usize,
    #[arg(long, default_value_t = 256)]
    width: usize,
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Timed updates.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Untimed updates first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Threads of the update (2 runs the actor and critic chains in parallel).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Also time a 256×256×256 gemm and report the share of its rate the update achieves.
    #[arg(long)]
    matmul: bool,
    /// The actor's norm before its heads (`ModelConfig::head_norm`, issue 26).
    #[arg(long)]
    head_norm: bool,
    /// Identity residual blocks at the start (`ResidualInit::Zero`; the block's layers then get no
    /// gradient at the first steps, which the timing should not depend on).
    #[arg(long)]
    zero_residual: bool,
}

/// GFLOP/s of `y = x wᵀ` at m = n = k = `n`, median of repeated runs.
fn matmul_rate(n: usize, threads: usize) -> f64 {
    let x = vec![0.5f32; n * n];
    let w = vec![0.25f32; n * n];
    let mut y = vec![0f32; n * n];
    let th = Threads::new(threads);
    2.0 * (n * n * n) as f64 / time(0, 200, |_| x_wt(n, n, n, &x, &w, &mut y, th.gemm)).median() / 1e9
}

fn main() -> Result<()> {
    let a = Args::parse();
    let cfg = ModelConfig { head_norm: a.head_norm, ..ModelConfig::point_maze(a.depth).with_width(a.width) };
    let init = if a.zero_residual { ResidualInit::Zero } else { ResidualInit::Standard };
    let mut trainer = FastTrainer::new(Model::init_with(&cfg, 0, init)?, AdamConfig::default(), a.threads)?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut rand = |n: usize| (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<f32>>();
    let b = a.batch;
    let (s, act, g, e) = (rand(b * 4), rand(b * 2), rand(b * 2), rand(b * 2));
    let batch = CrlBatch { states: &s, actions: &act, goals: &g, noise: &e };
    let times = time_calls(a.warmup, a.steps, |_| trainer.step(&batch).map(|_| ()))?;
    let (min, max, ms) = (times.min() * 1e3, times.max() * 1e3, times.median() * 1e3);
    // Eleven W×W matmuls per block layer: four trunk forwards (actor, ψ, φ on π's action, φ on the
    // replay action) and seven backward products (actor dW+dX, φ(π) dX, φ dW+dX, ψ dW+dX).
    let gflop = 11.0 * a.depth as f64 * 2.0 * (b * a.width * a.width) as f64 / 1e9;
    let mut line = format!(
        "{{\"impl\":\"deepcrl\",\"depth\":{},\"width\":{},\"batch\":{b},\"threads\":{},\"head_norm\":{},\"zero_residual\":{},\"ms_per_step\":{ms:.3},\"ms_min\":{min:.3},\"ms_max\":{max:.3},\"gflop_per_step\":{gflop:.3},\"gflops\":{:.1}",
        a.depth, a.width, a.threads, a.head_norm, a.zero_residual, gflop / ms * 1e3
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
