//! GFLOP/s of the three Linear products on one thread: `gemm` alone against the AVX-512 kernel.
//!
//! `cargo run --release -p models --example matmul_rate [-- --runs 200 --threads 1]`
//!
//! Each figure is the median of `--runs` timed calls after a short warm-up, so a busy neighbour on
//! a shared machine moves it less than a mean would.

use clap::Parser;
use gemm::Parallelism;
use models::fast::{gemm512, matmul};
use models::timing::time;

type Product = fn(usize, usize, usize, &[f32], &[f32], &mut [f32], Parallelism);

/// GFLOP/s of the three Linear products: gemm alone against the dispatched (AVX-512) kernel.
#[derive(Parser)]
struct Args {
    /// Timed calls per product (after 10 warm-up calls).
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Threads gemm may use (1: no split).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// Median seconds of `f` over `runs` calls after 10 warm-up calls.
fn median_secs(runs: usize, mut f: impl FnMut()) -> f64 {
    time(10, runs, |_| f()).median()
}

fn main() {
    let Args { runs, threads } = Args::parse();
    let par = if threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    println!("avx512 kernel available: {}, threads {threads}, median of {runs}", gemm512::available());
    let products: [(&str, Product, Product); 3] = [
        ("x_wt ", matmul::x_wt_gemm, matmul::x_wt),
        ("dy_w ", matmul::dy_w_gemm, matmul::dy_w),
        ("dyt_x", matmul::dyt_x_gemm, matmul::dyt_x),
    ];
    for (m, n, k) in [(256, 256, 256), (1024, 256, 256), (256, 1024, 1024)] {
        // Every buffer is sized for the largest operand any of the three products reads or writes.
        let len = (m * n).max(m * k).max(n * k);
        let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.71).cos()).collect();
        let mut c = vec![0f32; len];
        let flop = 2.0 * (m * n * k) as f64;
        for (name, old, new) in products {
            let g_old = flop / median_secs(runs, || old(m, n, k, &a, &b, &mut c, par)) * 1e-9;
            let g_new = flop / median_secs(runs, || new(m, n, k, &a, &b, &mut c, par)) * 1e-9;
            println!(
                "{name} m={m:4} n={n:4} k={k:4}  gemm {g_old:6.1} GFLOP/s  dispatched {g_new:6.1} GFLOP/s  x{:.2}",
                g_new / g_old
            );
        }
    }
}
