//! Helpers shared by the train integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// A fresh directory for one test, unique per process.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("deepcrl-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
