//! The GPU training path (issue 16): one CRL update written against the device interface of the
//! `kernels` crate, so the same orchestration runs on the CUDA device and, for tests, on the CPU
//! device that executes the CUDA kernels' own source.
//!
//! - [`trunk`]: a residual trunk's forward and backward on a device (the twin of `fast::trunk`).
//! - [`step`]: the whole update (actor + α, critic, Adam), eager or captured as one graph.

pub mod step;
pub mod trunk;

pub use step::{DeviceStep, Mode};
