//! The one error type of the `models` crate: every message says what was wrong and, where it can,
//! what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("invalid model configuration: {0}")]
    Config(String),
    #[error("checkpoint {path}: {msg}")]
    Checkpoint { path: PathBuf, msg: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("bad device {spec:?}: {msg}")]
    Device { spec: String, msg: String },
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A collective operation of data-parallel training (`crate::collective`): a rank left, timed
    /// out or disagreed.
    #[error("data-parallel training: {0}")]
    Collective(String),
    #[error("ONNX export: {0}")]
    Onnx(String),
    #[cfg(feature = "reference")]
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// The device update step (`crate::gpu`): a kernel, a product, a copy or a capture.
    #[error(transparent)]
    Kernel(#[from] kernels::KernelError),
}

impl ModelError {
    pub(crate) fn checkpoint(path: &std::path::Path, msg: impl Into<String>) -> Self {
        ModelError::Checkpoint { path: path.to_path_buf(), msg: msg.into() }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ModelError::Io { context: context.into(), source }
    }
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
