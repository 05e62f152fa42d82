//! Helpers shared by the train integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use train::config::TrainConfig;

/// A configuration small enough to train in well under a second.
pub fn tiny(total: u64) -> TrainConfig {
    TrainConfig {
        width: 32,
        batch_size: 32,
        num_envs: 8,
        unroll_length: 10,
        sgd_steps_per_round: 4,
        episode_length: 50,
        prefill_env_steps: 400,
        total_env_steps: total,
        eval_every: 400,
        eval_episodes: 8,
        replay_steps: 500,
        threads: 1,
        ..TrainConfig::default()
    }
}

/// A fresh directory for one test, unique per process.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("deepcrl-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
