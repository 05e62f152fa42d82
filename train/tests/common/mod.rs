//! Helpers shared by the train integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// A fresh directory for one test, unique per process.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("deepcrl-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Trains `TrainConfig::tiny(budget)` on the fused CPU path and as `other` says, same seed, and
/// checks the first evaluation after updates sees nearly the same losses and α. (Later the float
/// differences reach the collected data, so whole runs are not compared.) Returns both final rows
/// and the other run's directory (the fused run's is removed).
pub fn first_updates_agree(
    other: &train::config::TrainConfig,
    tag: &str,
) -> (train::metrics::Metrics, train::metrics::Metrics, PathBuf) {
    let budget = other.total_env_steps;
    let (dir_a, dir_b) = (temp_dir(&format!("{tag}-fast")), temp_dir(tag));
    let fast = train::run::train(&train::config::TrainConfig::tiny(budget), &dir_a, false, ()).unwrap().final_metrics;
    let got = train::run::train(other, &dir_b, false, ()).unwrap().final_metrics;
    assert_eq!(fast.sgd_steps, got.sgd_steps);
    let rel = |a: f32, b: f32| (a - b).abs() / a.abs().max(1e-3);
    assert!(rel(fast.critic_loss, got.critic_loss) < 1e-3, "critic loss {} vs {}", fast.critic_loss, got.critic_loss);
    assert!(rel(fast.alpha, got.alpha) < 1e-3, "alpha {} vs {}", fast.alpha, got.alpha);
    std::fs::remove_dir_all(dir_a).unwrap();
    (fast, got, dir_b)
}
