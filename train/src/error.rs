//! The error type of the `train` library: what stopped a run, with the flag or file to change. The
//! binary maps [`TrainError::Interrupted`] to exit code 130 and the rest to 1.

use crate::run::Interrupted;

/// Why a run, a sweep or a configuration did not go through.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A flag or configuration value that cannot work (the message names it and the fix).
    #[error("{0}")]
    Config(String),
    /// clap's own (a bad flag, or `--help`): print with `clap::Error::exit` semantics.
    #[error(transparent)]
    Cli(#[from] clap::Error),
    #[error(transparent)]
    Flags(#[from] rundir::config::ConfigError),
    #[error(transparent)]
    Files(#[from] rundir::RunDirError),
    #[error(transparent)]
    Model(#[from] models::ModelError),
    #[error(transparent)]
    Env(#[from] envs::EnvError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Plot(#[from] plots::PlotError),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("safetensors: {0}")]
    SafeTensors(#[from] safetensors::SafeTensorError),
    /// A file whose contents are not what this version writes (the message says where and how).
    #[error("{0}")]
    Invalid(String),
    /// Stopped through `train::run::STOP` after a resumable checkpoint: not a failure of the run.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error("{context}: {cause}")]
    Context { context: String, cause: Box<TrainError> },
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

rundir::error_context!(TrainError in error);

impl TrainError {
    /// The interruption under any context, so a caller can exit 130 instead of 1.
    pub fn interrupted(&self) -> Option<&Interrupted> {
        match self {
            TrainError::Interrupted(i) => Some(i),
            TrainError::Context { cause, .. } => cause.interrupted(),
            _ => None,
        }
    }
}
