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

/// Prepends what was being done to an error, as `anyhow::Context` does, for [`ServeError`].
pub trait Context<T> {
    fn context(self, context: impl Into<String>) -> Result<T>;
    fn with_context<S: Into<String>>(self, context: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: Into<ServeError>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| ServeError::Context { context: context.into(), cause: Box::new(e.into()) })
    }
    fn with_context<S: Into<String>>(self, context: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| ServeError::Context { context: context().into(), cause: Box::new(e.into()) })
    }
}

/// `return Err(ServeError::Invalid(format!(...)))`.
macro_rules! invalid {
    ($($fmt:tt)+) => {
        return Err($crate::failure::ServeError::Invalid(format!($($fmt)+)))
    };
}
pub(crate) use invalid;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_reads_outside_in() {
        let inner: Result<()> = Err(ServeError::Invalid("the bank is empty".into()));
        let e = inner.context("loading the planner").context("starting").unwrap_err();
        assert_eq!(e.to_string(), "starting: loading the planner: the bank is empty");
    }
}
