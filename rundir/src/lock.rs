//! One writer per directory. A process that writes a run (or a student, or a pruned model) holds an
//! exclusive advisory lock on `<dir>/.lock` for as long as it runs; a second process asking for the
//! same directory is refused at once instead of interleaving its files with the first one's. The lock
//! goes with the process, so a killed run leaves nothing to clean up.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Result, RunDirError};
use crate::layout::{RunDir, LOCK};

/// How long a held lock is asked for again before the directory is declared busy.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(500);

/// A held directory lock; dropping it releases the directory.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    _file: File,
}

impl RunLock {
    /// Creates `dir` if needed and locks it, or says which process-held lock is in the way.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let io = |context: String| move |source| RunDirError::Io { context, source };
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let path = dir.join(LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(format!("opening the lock file {}", path.display())))?;
        // A lock can outlive its holder by a moment: a process that forks a child while holding it
        // shares it with the child until the child's exec closes it. Asking again briefly tells such
        // a lock from a run that is really in progress.
        let patience = std::time::Instant::now() + LOCK_PATIENCE;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(RunLock { path, _file: file }),
                Err(TryLockError::WouldBlock) if std::time::Instant::now() < patience => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(RunDirError::Locked { dir: dir.to_path_buf(), lock: path });
                }
                Err(TryLockError::Error(e)) => return Err(io(format!("locking {}", path.display()))(e)),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Refuses a fresh training run in a directory that already holds one (it would truncate the run's
/// metrics and overwrite its checkpoint); `--resume` continues it instead.
pub fn refuse_overwrite(run: &RunDir) -> Result<()> {
    let found = run.existing_run();
    if found.is_empty() {
        return Ok(());
    }
    Err(RunDirError::RunExists { dir: run.dir.clone(), found: found.join(", ") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("runs/a");
        let first = RunLock::acquire(&run).unwrap();
        let e = RunLock::acquire(&run).unwrap_err().to_string();
        assert!(e.contains("another process") && e.contains(".lock"), "{e}");
        RunLock::acquire(&dir.path().join("runs/b")).expect("another directory is free");
        drop(first);
        RunLock::acquire(&run).expect("released with its holder");
    }

    #[test]
    fn a_fresh_run_over_an_old_one_names_resume() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        refuse_overwrite(&run).unwrap();
        std::fs::write(run.teacher(), "").unwrap();
        let e = refuse_overwrite(&run).unwrap_err().to_string();
        assert!(e.contains("--resume") && e.contains("new --out") && e.contains("teacher.safetensors"), "{e}");
    }
}
