//! The files of a run directory (DESIGN.md section 5) and the small helpers that write them.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Where a run writes its files.
pub struct RunFiles {
    pub dir: PathBuf,
}

impl RunFiles {
    pub fn teacher(&self) -> PathBuf {
        self.dir.join("teacher.safetensors")
    }
    pub fn metrics_jsonl(&self) -> PathBuf {
        self.dir.join("metrics.jsonl")
    }
    pub fn metrics_csv(&self) -> PathBuf {
        self.dir.join("metrics.csv")
    }
    pub fn eval_json(&self) -> PathBuf {
        self.dir.join("eval.json")
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    pub fn train_state(&self) -> PathBuf {
        self.dir.join("train_state.safetensors")
    }
    pub fn curves(&self) -> PathBuf {
        self.dir.join("curves.png")
    }
    pub fn trajectories(&self) -> PathBuf {
        self.dir.join("trajectories.png")
    }
    pub fn bank(&self) -> PathBuf {
        self.dir.join("bank.safetensors")
    }
}

/// Appends one line, creating the file if needed (metrics files grow by one line per evaluation).
pub fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(f, "{line}").with_context(|| format!("writing {}", path.display()))
}

/// A process killed mid-write leaves its temporary file behind; the
/// target itself is intact, so the leftovers are only clutter.
pub fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // `.<name>.tmp-<pid>-<n>` (atomic writer) and `.<name>.<pid>-<n>.tmp.png` (plots).
        if name.starts_with('.') && (name.contains(".tmp-") || name.ends_with(".tmp.png")) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Writes `bytes` to a temporary file and renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(models::atomic::write_bytes_atomic(path, bytes)?)
}
