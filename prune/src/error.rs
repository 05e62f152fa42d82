//! The error type of the `prune` library: what stopped a pruning run, with the flag or file to change.

/// Why a pruning run or its configuration did not go through.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// A flag or configuration value that cannot work for this model (the message names it and the fix).
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
    /// Scoring's tensors (candle).
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error(transparent)]
    Env(#[from] envs::EnvError),
    /// Healing, which is a distillation from the unpruned model.
    #[error(transparent)]
    Distill(#[from] distill::error::DistillError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Plot(#[from] plots::PlotError),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Models, scores or keep-lists that do not fit together (the message says how).
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {cause}")]
    Context { context: String, cause: Box<PruneError> },
}

pub type Result<T, E = PruneError> = std::result::Result<T, E>;

rundir::error_context!(PruneError in error);
