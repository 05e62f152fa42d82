//! The error type of the `serve` library (the HTTP API's own is [`crate::error::ApiError`]): what
//! stopped the server from starting, a model from loading or a reload from taking, with the file or
//! flag to change. Context is prepended as in "loading the planner: runs/x: no bank.safetensors ...".

use std::path::PathBuf;

/// Why the server could not start, load or reload.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A flag or configuration value (the message names it).
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Flags(#[from] rundir::config::ConfigError),
    #[error("binding {addr} (--addr): {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error(transparent)]
    Files(#[from] rundir::RunDirError),
    #[error(transparent)]
    Model(#[from] models::ModelError),
    /// Models, banks or graphs that do not fit together or misbehave (the message says how).
    #[error("{0}")]
    Invalid(String),
    #[error("reading {}: {source}", .path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// A worker thread or task that stopped or panicked.
    #[error("{0}")]
    Stopped(String),
    #[error("{context}: {cause}")]
    Context { context: String, cause: Box<ServeError> },
}

pub type Result<T, E = ServeError> = std::result::Result<T, E>;

rundir::error_context!(ServeError in failure);
