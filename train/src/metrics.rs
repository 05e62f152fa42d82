//! `metrics.jsonl` / `metrics.csv` rows, per-goal success, and the learning-curve redraw.

use std::collections::BTreeMap;
use std::fs;

use anyhow::{Context, Result};
use envs::eval::EvalReport;
use envs::point_maze::Layout;
use serde::Serialize;

use crate::config::TrainConfig;
use crate::files::RunFiles;

/// Update scalars are NaN before the first SGD step; JSON has no NaN, so they are written as `null`
/// and read back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    Ok(<Option<f32> as serde::Deserialize>::deserialize(d)?.unwrap_or(f32::NAN))
}

/// One line of `metrics.jsonl` (and one row of `metrics.csv`).
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Metrics {
    pub env_steps: u64,
    pub sgd_steps: u64,
    pub wall_s: f64,
    /// Environment steps per second over the whole run so far.
    pub sps: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub critic_loss: f32,
    #[serde(deserialize_with = "nan_if_null")]
    pub actor_loss: f32,
    #[serde(deserialize_with = "nan_if_null")]
    pub alpha: f32,
    #[serde(deserialize_with = "nan_if_null")]
    pub entropy: f32,
    #[serde(deserialize_with = "nan_if_null")]
    pub critic_accuracy: f32,
    pub success_rate: f64,
    pub success_ci95: [f64; 2],
    pub time_at_goal: f64,
    pub time_at_goal_ci95: [f64; 2],
    /// Mazes: success rate per eval goal cell, keyed "(row,col)".
    pub per_goal: BTreeMap<String, f64>,
}

/// Success per goal cell for the maze family (empty for other environments).
pub fn per_goal_success(env: &str, report: &EvalReport) -> BTreeMap<String, f64> {
    let mut tally: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    if !env.starts_with("point_") {
        return BTreeMap::new();
    }
    for r in &report.records {
        let (i, j) = Layout::cell_of([r.goal[0], r.goal[1]]);
        let e = tally.entry(format!("({i},{j})")).or_default();
        e.0 += r.success as usize;
        e.1 += 1;
    }
    tally.into_iter().map(|(k, (s, n))| (k, s as f64 / n as f64)).collect()
}

pub fn csv_row(m: &Metrics) -> String {
    format!(
        "{},{},{:.2},{:.1},{},{},{},{},{},{},{}",
        m.env_steps,
        m.sgd_steps,
        m.wall_s,
        m.sps,
        m.critic_loss,
        m.actor_loss,
        m.alpha,
        m.entropy,
        m.critic_accuracy,
        m.success_rate,
        m.time_at_goal
    )
}

pub const CSV_HEADER: &str =
    "env_steps,sgd_steps,wall_s,sps,critic_loss,actor_loss,alpha,entropy,critic_accuracy,success_rate,time_at_goal";

/// Redraws `curves.png` from every line of `metrics.jsonl` (so a resumed run plots its whole history).
pub fn plot_history(cfg: &TrainConfig, files: &RunFiles) -> Result<()> {
    let text = fs::read_to_string(files.metrics_jsonl()).context("reading metrics.jsonl")?;
    let history: Vec<Metrics> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let title = format!("{} depth {} (actor {}) width {}", cfg.env, cfg.depth, cfg.actor_depth(), cfg.width);
    crate::curves::plot_curves(&history, &title, &files.curves())
}
