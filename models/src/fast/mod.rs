//! The fast CPU training path: hand-written trunk forward/backward on `gemm`, fused
//! bias + LayerNorm + SiLU, and the whole CRL update without an autograd graph.
//!
//! It computes exactly what [`crate::candle_update`] computes (a test holds them within 1e-4); the
//! candle version stays the reference and the path for other devices.

mod data_parallel;
pub mod gemm512;
pub mod half;
pub mod head_norm;
pub mod heads;
pub mod isa;
pub mod matmul;
pub mod matvec;
pub mod norm_act;
pub mod packed;
pub mod probe;
pub mod simd;
pub mod trunk;
pub mod update;

pub use trunk::{Threads, TrunkTape};
pub use update::FastTrainer;

/// `out[r, c] = Σ_l a(r, l)·b(l, c)`, accumulated in f64: the reference every product kernel's
/// tests compare against, whatever layout the closures read their operands in.
#[cfg(test)]
pub(crate) fn naive_product(
    r: usize,
    c: usize,
    d: usize,
    a: impl Fn(usize, usize) -> f32,
    b: impl Fn(usize, usize) -> f32,
) -> Vec<f32> {
    let mut out = vec![0f32; r * c];
    for i in 0..r {
        for j in 0..c {
            out[i * c + j] = (0..d).map(|l| a(i, l) as f64 * b(l, j) as f64).sum::<f64>() as f32;
        }
    }
    out
}
