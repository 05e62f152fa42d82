//! The fast CPU training path: hand-written trunk forward/backward on `gemm`, fused
//! bias + LayerNorm + SiLU, and the whole CRL update without an autograd graph.
//!
//! It computes exactly what [`crate::candle_update`] computes (a test holds them within 1e-4); the
//! candle version stays the reference and the path for other devices.

pub mod gemm512;
pub mod half;
pub mod heads;
pub mod matmul;
pub mod norm_act;
pub mod simd;
pub mod trunk;
pub mod update;

pub use trunk::{Threads, TrunkTape};
pub use update::FastTrainer;
