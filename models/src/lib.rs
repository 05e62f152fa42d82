//! deepcrl `models`: the networks of goal-conditioned Contrastive RL, their update step, checkpoints
//! and exports.
//!
//! - [`layout`]: the flat parameter buffer and the checkpoint names of every tensor.
//! - [`reference`] and [`candle_update`]: the networks and the CRL update on candle's autograd
//!   (any device, any float type; the reference for tests). The `reference` feature, on by default;
//!   a robot's build leaves it out (`default-features = false`) and links no candle.
//! - [`fast`]: the hand-written CPU training path (fused LayerNorm + SiLU, gemm, fused Adam).
//! - [`gpu`]: the same update on the `kernels` device interface (the CUDA path, tested on the CPU).
//! - [`infer`], [`critic_infer`]: allocation-free actor and critic inference for serving and planning.
//! - [`checkpoint`], [`onnx`]: safetensors files and ONNX export.
//! - [`collective`]: what data-parallel training needs from MPI (or threads, in tests).
//! - [`timing`]: the one timer behind every benchmark and measured latency.

pub mod atomic;
pub mod bank;
#[cfg(feature = "reference")]
pub mod candle_update;
pub mod checkpoint;
pub mod collective;
pub mod config;
pub mod critic_infer;
pub mod crl;
pub mod device;
pub mod error;
pub mod fast;
pub mod gpu;
pub mod infer;
pub mod layout;
pub mod numerics;
pub mod onnx;
#[cfg(feature = "reference")]
pub mod reference;
pub mod timing;

pub use config::ModelConfig;
pub use crl::{Adam, AdamConfig, CrlBatch, CrlStats};
pub use error::{ModelError, Result};
pub use layout::{Model, ModelLayout, ResidualInit};
