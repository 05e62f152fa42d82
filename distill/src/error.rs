//! The error type of the `distill` library: what stopped a distillation, with the flag or file to
//! change.

/// Why a distillation, its report or its baseline did not go through.
#[derive(Debug, thiserror::Error)]
pub enum DistillError {
    /// A flag or configuration value that cannot work (the message names it and the fix).
    #[error("{0}")]
    Config(String),
    /// clap's own (a bad flag, or `--help`).
    #[error(transparent)]
    Cli(#[from] clap::Error),
    #[error(transparent)]
    Flags(#[from] rundir::config::ConfigError),
    #[error(transparent)]
    Files(#[from] rundir::RunDirError),
    #[error(transparent)]
    Model(#[from] models::ModelError),
    /// The distillation's own tensors (candle's autograd).
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error(transparent)]
    Env(#[from] envs::EnvError),
    /// The from-scratch baseline's training run.
    #[error(transparent)]
    Train(#[from] train::error::TrainError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Plot(#[from] plots::PlotError),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Models or data that do not fit together (the message says how).
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {cause}")]
    Context { context: String, cause: Box<DistillError> },
}

pub type Result<T, E = DistillError> = std::result::Result<T, E>;

rundir::error_context!(DistillError in error);
