//! The error type of `rundir`: each message names the path and says what to pass instead.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error("{}: does not exist; pass a run directory written by `train` (runs/NAME), a student or pruned-model directory, or a checkpoint file", .0.display())]
    Missing(PathBuf),
    #[error("{}: no teacher.safetensors or student.safetensors in this directory; pass a run directory written by `train` (runs/NAME), a student directory (runs/NAME/students/ID) or a checkpoint file", .0.display())]
    NoCheckpoint(PathBuf),
    #[error("{}: no {name} beside this checkpoint or beside any checkpoint in its parent chain ({searched}); {why}", .checkpoint.display())]
    NotFound { checkpoint: PathBuf, name: &'static str, searched: String, why: &'static str },
    #[error("{}: already holds a training run ({found}); pass --resume to continue it, or choose a new --out", .dir.display())]
    RunExists { dir: PathBuf, found: String },
    #[error("{}: another process is using this run directory (it holds {}); wait for it to finish, or choose another directory", .dir.display(), .lock.display())]
    Locked { dir: PathBuf, lock: PathBuf },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Model(#[from] models::ModelError),
}

pub type Result<T, E = RunDirError> = std::result::Result<T, E>;
