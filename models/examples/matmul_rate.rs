//! GFLOP/s of the three Linear products on one thread: `gemm` alone against the AVX-512 kernel.
//!
//! `cargo run --release -p models --example matmul_rate [-- --runs 200 --threads 1]`
//!
//! Each figure is the median of `--runs` timed calls after a short warm-up, so a busy neighbour on
//! a shared machine moves it less than a mean would.

use std::time::Instant;

use gemm::Parallelism;
use models::fast::{gemm512, matmul};

type Product = fn(usize, usize, usize, &[f32], &[f32], &mut [f32], Parallelism);

fn median_secs(runs: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..10 {
        f();
    }
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    let mut runs = 200;
    let mut threads = 1;
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let v = pair.get(1).and_then(|v| v.parse().ok());
        match (pair[0].as_str(), v) {
            ("--runs", Some(v)) => runs = v,
            ("--threads", Some(v)) => threads = v,
            _ => {
                eprintln!("matmul_rate [--runs 200] [--threads 1]");
                return;
            }
        }
    }
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
