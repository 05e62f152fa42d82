//! The depth sweep: the finished runs of one experiment (the same budget and seeds at several depths)
//! gathered per depth, written as `sweep.json` and `sweep.md` and drawn as `depth_sweep.png`.
//!
//! A sweep directory holds one run directory per (depth, seed); `scripts/depth_sweep.sh` names them
//! `d<D>-s<S>`, but only each run's `config.toml` and `eval.json` are read, so any names do. A run
//! counts once its last evaluation reached its budget (`total_env_steps`); a run cut short is listed
//! in its depth's `skipped` instead, because mixing it in would pull that depth's rate down.
//!
//! Per depth there are two kinds of interval, because they answer different questions:
//! - between seeds (`seed_success`, `topology`): each seed's final value counts once, with a Student-t
//!   95% interval for their mean. This is the one that says whether depth, rather than luck, made the
//!   difference; with three seeds it is wide, and honestly so.
//! - pooled episodes (`success`): the final evaluation episodes of all seeds pooled, with a Wilson
//!   95% interval. It reflects evaluation noise for these particular seeds only.

mod plot;
mod table;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use crate::error::{bail, Context, Result};
use envs::eval::Stat;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::config::TrainConfig;

pub use plot::plot_sweep;
pub use table::markdown_table;

/// One finished run's final evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The run directory's name inside the sweep directory.
    pub name: String,
    pub seed: u64,
    pub env: String,
    pub total_env_steps: u64,
    pub env_steps: u64,
    pub wall_s: f64,
    pub success_rate: f64,
    pub successes: usize,
    pub episodes: usize,
    pub time_at_goal: f64,
    /// The critic-topology metric at the final evaluation (`crate::topology`); `None` outside the
    /// maze family and for runs made before the metric existed.
    pub topology: Option<f64>,
    /// The same metric for straight-line distance: the score of a critic blind to walls.
    pub euclidean_topology: Option<f64>,
    /// The critic's topology metric partial given straight-line distance (`Metrics::topology_partial`);
    /// `None` where `topology` is and for runs made before it existed.
    #[serde(default)]
    pub topology_partial: Option<f64>,
}

/// A run directory left out of its depth's numbers because its budget is not used up yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkippedRun {
    pub name: String,
    pub seed: u64,
    /// Environment steps at its last evaluation; `None` when it has not evaluated yet.
    pub env_steps: Option<u64>,
    pub total_env_steps: u64,
}

impl SkippedRun {
    /// Why the run is left out, e.g. "unfinished: 120000 of 300000 env steps".
    pub fn reason(&self) -> String {
        match self.env_steps {
            Some(s) => format!("unfinished: {s} of {} env steps", self.total_env_steps),
            None => format!("unfinished: no evaluation yet (budget {} env steps)", self.total_env_steps),
        }
    }
}

/// The spread between seeds of one per-run value: each seed counted once.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedSpread {
    /// How many seeds (finished runs) the value comes from.
    pub seeds: usize,
    pub mean: f64,
    /// Sample standard deviation between seeds; `None` with one seed.
    pub sd: Option<f64>,
    /// 95% Student-t interval for the mean, mean ± t(0.975, n − 1)·sd/√n, clipped to the value's
    /// range; `None` with one seed, where the spread is unknown.
    pub ci95: Option<[f64; 2]>,
}

impl SeedSpread {
    /// The spread of `values` (one per seed), with the interval clipped to `range`. `None` when
    /// `values` is empty.
    pub fn of(values: &[f64], range: [f64; 2]) -> Option<SeedSpread> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Some(SeedSpread { seeds: n, mean, sd: None, ci95: None });
        }
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        // n ≥ 2 keeps the degrees of freedom positive, the one way `StudentsT::new` can fail here.
        let t = StudentsT::new(0.0, 1.0, (n - 1) as f64).map_or(f64::NAN, |d| d.inverse_cdf(0.975));
        let half = t * sd / (n as f64).sqrt();
        let ci95 = [(mean - half).max(range[0]), (mean + half).min(range[1])];
        Some(SeedSpread { seeds: n, mean, sd: Some(sd), ci95: Some(ci95) })
    }
}

/// Every run of one depth. The summary fields are `None` when no run of this depth has finished
/// (the depth is still listed, so that its `skipped` runs are not silently lost).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    pub depth: usize,
    /// Seeds of the finished runs, ascending.
    pub seeds: Vec<u64>,
    /// The finished runs, by seed.
    pub runs: Vec<RunResult>,
    /// Each seed's final success rate counted once, with the between-seed interval.
    pub seed_success: Option<SeedSpread>,
    /// Each seed's final topology metric counted once; `None` when no finished run has the metric.
    pub topology: Option<SeedSpread>,
    /// The straight-line reference for `topology` (the same probes, so the same for every seed up to
    /// the probes' layout; averaged over the runs that have it).
    pub euclidean_topology: Option<f64>,
    /// Each seed's final `topology_partial` counted once; `None` when no finished run has it.
    #[serde(default)]
    pub topology_partial: Option<SeedSpread>,
    /// Successful episodes and episodes over all finished runs' final evaluations.
    pub successes: usize,
    pub episodes: usize,
    /// `successes / episodes` with its Wilson 95% interval (pooled episodes, not seeds).
    pub success: Option<Stat>,
    /// Time at goal averaged over the same pooled episodes (an episode-weighted mean of the runs').
    pub time_at_goal: Option<f64>,
    /// Mean wall-clock seconds of a finished run.
    pub mean_wall_s: Option<f64>,
    pub skipped: Vec<SkippedRun>,
}

/// The parts of `eval.json` the sweep needs; everything else in it is ignored.
#[derive(Deserialize)]
struct EvalFile {
    metrics: EvalMetrics,
    report: EvalRecords,
}

#[derive(Deserialize)]
struct EvalMetrics {
    env_steps: u64,
    wall_s: f64,
    success_rate: f64,
    time_at_goal: f64,
    /// `null` (NaN) outside the mazes, absent in runs made before the metric existed.
    #[serde(default)]
    topology: Option<f64>,
    #[serde(default)]
    euclidean_topology: Option<f64>,
    #[serde(default)]
    topology_partial: Option<f64>,
}

#[derive(Deserialize)]
struct EvalRecords {
    episodes: usize,
    records: Vec<Outcome>,
}

#[derive(Deserialize)]
struct Outcome {
    success: bool,
}

fn read_eval(path: &Path) -> Result<EvalFile> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let eval: EvalFile = serde_json::from_str(&text)
        .with_context(|| format!("{}: not an eval.json written by train", path.display()))?;
    // Successes are counted from the records, so they must be the whole evaluation.
    let n = eval.report.records.len();
    if n == 0 || n != eval.report.episodes {
        bail!("{}: report.episodes is {} but it holds {n} episode records", path.display(), eval.report.episodes);
    }
    Ok(eval)
}

/// Reads every run directory directly inside `dir` (one with a `config.toml`), groups the runs by
/// depth and pools each depth's finished runs. Depths come out ascending. A run whose last
/// evaluation is short of its budget, or that has no `eval.json` yet, is logged and listed in its
/// depth's `skipped`. Unreadable or malformed files are errors naming the file.
pub fn collect_sweep(dir: &Path) -> Result<Vec<SweepPoint>> {
    let entries = fs::read_dir(dir).with_context(|| format!("reading sweep directory {}", dir.display()))?;
    let mut run_dirs = Vec::new();
    for entry in entries {
        let path = entry.with_context(|| format!("listing {}", dir.display()))?.path();
        if path.join("config.toml").is_file() {
            run_dirs.push(path);
        }
    }
    // Directory order is arbitrary; sorting keeps sweep.json stable between calls.
    run_dirs.sort();
    let mut by_depth: BTreeMap<usize, (Vec<RunResult>, Vec<SkippedRun>)> = BTreeMap::new();
    for path in &run_dirs {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let cfg = TrainConfig::from_toml_file(&path.join("config.toml"))?;
        let (runs, skipped) = by_depth.entry(cfg.depth).or_default();
        let eval_path = path.join("eval.json");
        let eval = if eval_path.is_file() { Some(read_eval(&eval_path)?) } else { None };
        let env_steps = eval.as_ref().map(|e| e.metrics.env_steps);
        let eval = match eval {
            Some(e) if e.metrics.env_steps >= cfg.total_env_steps => e,
            _ => {
                let skip = SkippedRun { name, seed: cfg.seed, env_steps, total_env_steps: cfg.total_env_steps };
                tracing::warn!("{}: skipped, {}", path.display(), skip.reason());
                skipped.push(skip);
                continue;
            }
        };
        let m = &eval.metrics;
        runs.push(RunResult {
            name,
            seed: cfg.seed,
            env: cfg.env.clone(),
            total_env_steps: cfg.total_env_steps,
            env_steps: m.env_steps,
            wall_s: m.wall_s,
            success_rate: m.success_rate,
            successes: eval.report.records.iter().filter(|r| r.success).count(),
            episodes: eval.report.episodes,
            time_at_goal: m.time_at_goal,
            topology: m.topology.filter(|t| t.is_finite()),
            euclidean_topology: m.euclidean_topology.filter(|t| t.is_finite()),
            topology_partial: m.topology_partial.filter(|t| t.is_finite()),
        });
    }
    let points: Vec<SweepPoint> =
        by_depth.into_iter().map(|(depth, (runs, skipped))| pool(depth, runs, skipped)).collect();
    warn_if_not_comparable(dir, &points);
    Ok(points)
}

fn pool(depth: usize, mut runs: Vec<RunResult>, mut skipped: Vec<SkippedRun>) -> SweepPoint {
    runs.sort_by(|a, b| (a.seed, &a.name).cmp(&(b.seed, &b.name)));
    skipped.sort_by(|a, b| (a.seed, &a.name).cmp(&(b.seed, &b.name)));
    let successes = runs.iter().map(|r| r.successes).sum();
    let episodes: usize = runs.iter().map(|r| r.episodes).sum();
    let finished = !runs.is_empty();
    let n = episodes as f64;
    let rates: Vec<f64> = runs.iter().map(|r| r.success_rate).collect();
    let topology: Vec<f64> = runs.iter().filter_map(|r| r.topology).collect();
    let euclidean: Vec<f64> = runs.iter().filter_map(|r| r.euclidean_topology).collect();
    let partial: Vec<f64> = runs.iter().filter_map(|r| r.topology_partial).collect();
    SweepPoint {
        depth,
        seeds: runs.iter().map(|r| r.seed).collect(),
        seed_success: SeedSpread::of(&rates, [0.0, 1.0]),
        topology: SeedSpread::of(&topology, [-1.0, 1.0]),
        euclidean_topology: (!euclidean.is_empty()).then(|| euclidean.iter().sum::<f64>() / euclidean.len() as f64),
        topology_partial: SeedSpread::of(&partial, [-1.0, 1.0]),
        success: finished.then(|| Stat::wilson(successes, episodes)),
        time_at_goal: finished.then(|| runs.iter().map(|r| r.time_at_goal * r.episodes as f64).sum::<f64>() / n),
        mean_wall_s: finished.then(|| runs.iter().map(|r| r.wall_s).sum::<f64>() / runs.len() as f64),
        successes,
        episodes,
        runs,
        skipped,
    }
}

/// Whether any finished run recorded the topology metric beyond the straight line: the table's
/// extra columns and the plot's fourth panel appear only then, so older sweeps draw as they did.
fn records_partial(points: &[SweepPoint]) -> bool {
    points.iter().any(|p| p.topology_partial.is_some())
}

/// A sweep compares depths only if everything else is equal; say so when it is not.
fn warn_if_not_comparable(dir: &Path, points: &[SweepPoint]) {
    let runs = || points.iter().flat_map(|p| &p.runs);
    let envs: BTreeSet<&str> = runs().map(|r| r.env.as_str()).collect();
    let budgets: BTreeSet<u64> = runs().map(|r| r.total_env_steps).collect();
    if envs.len() > 1 {
        tracing::warn!("{}: runs of different environments {envs:?} are mixed", dir.display());
    }
    if budgets.len() > 1 {
        tracing::warn!("{}: runs with different budgets {budgets:?} (env steps) are mixed", dir.display());
    }
    for p in points {
        if p.seeds.windows(2).any(|w| w[0] == w[1]) {
            tracing::warn!("{}: depth {} has several finished runs of one seed: {:?}", dir.display(), p.depth, p.seeds);
        }
    }
}

/// Writes `points` as `{"points": [...]}` to `path` (atomically).
pub fn write_sweep_json(points: &[SweepPoint], path: &Path) -> Result<()> {
    let json = serde_json::to_string_pretty(&serde_json::json!({ "points": points }))?;
    models::atomic::write_bytes_atomic(path, json.as_bytes()).with_context(|| format!("writing {}", path.display()))
}
