//! The one error type of the `robot` crate: what went wrong between a robot and the server, said so a
//! person knows what to do next.

/// A robot-side failure.
#[derive(Debug, thiserror::Error)]
pub enum RobotError {
    #[error("cannot reach the server at {base} (start it with `cargo serve`): {source}")]
    Unreachable {
        base: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the server at {base} is not ready ({status}); wait for its `ready` log line")]
    NotReady { base: String, status: reqwest::StatusCode },
    #[error("the server answered {status} to {what}: {body}")]
    Refused { what: String, status: u16, body: serde_json::Value },
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the simulated environment: {0}")]
    Env(#[from] envs::EnvError),
    #[error("invalid robot-sim settings: {0}")]
    Config(String),
    #[error("the session stream: {0}")]
    Stream(String),
    #[error("the student at {path}: {why}")]
    Student { path: std::path::PathBuf, why: String },
    #[error(
        "the student at {student} (sha256 {sha256}) is not the model the server's controller runs \
         ({server}, sha256 {server_sha256}); the robot will not move: copy that file to the robot and pass \
         it to --student, or serve this student with `serve --controller`"
    )]
    ModelMismatch { student: std::path::PathBuf, sha256: String, server: String, server_sha256: String },
    #[error("a robot task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl RobotError {
    /// A failure of the network or the server, rather than of this robot's own settings or model.
    pub fn is_link(&self) -> bool {
        matches!(
            self,
            RobotError::Unreachable { .. } | RobotError::Http(_) | RobotError::Stream(_) | RobotError::Refused { .. }
        )
    }
}

pub type Result<T, E = RobotError> = std::result::Result<T, E>;
