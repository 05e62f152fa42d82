//! Errors of the `envs` crate: each says what was wrong and what to do.

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("unknown environment {name:?}; valid names: {valid}")]
    UnknownEnv { name: String, valid: String },
    #[error("layout {source_name}: {msg}")]
    Layout { source_name: String, msg: String },
    #[error("action buffer has {got} values, expected {num_envs} environments × {action_dim}")]
    ActionShape { got: usize, num_envs: usize, action_dim: usize },
    #[error("action[{index}] (environment {env}) is {value}: actions must be finite numbers in [-1, 1]")]
    NonFiniteAction { index: usize, env: usize, value: f32 },
    #[error("{0}")]
    Invalid(String),
    /// A Gymnasium environment or the Python around it failed (the message keeps any traceback).
    #[error("{0}")]
    Python(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = EnvError> = std::result::Result<T, E>;
