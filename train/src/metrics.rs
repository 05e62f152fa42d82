//! `metrics.jsonl` / `metrics.csv` rows, per-goal success, and the learning-curve redraw.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{bail, Context, Result};
use envs::eval::EvalReport;
use envs::point_maze::{Layout, CELL};
use serde::Serialize;

use crate::config::TrainConfig;
use rundir::RunDir;

/// Update scalars are NaN before the first SGD step; JSON has no NaN, so they are written as `null`
/// and read back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    Ok(<Option<f32> as serde::Deserialize>::deserialize(d)?.unwrap_or(f32::NAN))
}

/// One line of `metrics.jsonl` (and one row of `metrics.csv`).
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
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
    /// Mazes: Spearman correlation between the critic's distances and the shortest paths through
    /// the maze over fixed (state, goal) pairs (`crate::topology`); NaN elsewhere and in rows
    /// written before the metric existed.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub topology: f32,
    /// The same correlation for straight-line distance, the score of a critic blind to walls.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub euclidean_topology: f32,
    /// `topology` as a partial correlation given straight-line distance: what the critic knows of
    /// the maze beyond the straight line (about 0 for a critic blind to walls, 1 for one that ranks
    /// by path length). NaN where `topology` is, and in rows written before it existed.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub topology_partial: f32,
}

fn nan() -> f32 {
    f32::NAN
}

/// Success per goal cell for the maze family (empty for other environments).
pub fn per_goal_success(maze_cell: Option<f32>, report: &EvalReport) -> BTreeMap<String, f64> {
    let mut tally: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let Some(cell) = maze_cell else { return BTreeMap::new() };
    // In point-maze units, where cells are CELL wide.
    let scale = CELL / cell;
    for r in &report.records {
        let (i, j) = Layout::cell_of([r.goal[0] * scale, r.goal[1] * scale]);
        let e = tally.entry(format!("({i},{j})")).or_default();
        e.0 += r.success as usize;
        e.1 += 1;
    }
    tally.into_iter().map(|(k, (s, n))| (k, s as f64 / n as f64)).collect()
}

pub fn csv_row(m: &Metrics) -> String {
    format!(
        "{},{},{:.2},{:.1},{},{},{},{},{},{},{},{},{},{}",
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
        m.time_at_goal,
        m.topology,
        m.euclidean_topology,
        m.topology_partial
    )
}

pub const CSV_HEADER: &str =
    "env_steps,sgd_steps,wall_s,sps,critic_loss,actor_loss,alpha,entropy,critic_accuracy,success_rate,time_at_goal,topology,euclidean_topology,topology_partial";

/// Rewrites `metrics.csv` from `metrics.jsonl` when its header is not this version's (a run begun
/// before a column was added), so a resumed run's rows line up with their header.
pub fn sync_csv(files: &RunDir) -> Result<()> {
    let path = files.metrics_csv();
    let text = fs::read_to_string(&path).unwrap_or_default();
    if text.lines().next() == Some(CSV_HEADER) {
        return Ok(());
    }
    let mut csv = format!("{CSV_HEADER}\n");
    for m in read_history(&files.metrics_jsonl())? {
        csv += &csv_row(&m);
        csv.push('\n');
    }
    models::atomic::write_bytes_atomic(&path, csv.as_bytes())?;
    Ok(())
}

/// Redraws `curves.png` from every line of `metrics.jsonl` (so a resumed run plots its whole history).
pub fn plot_history(cfg: &TrainConfig, files: &RunDir) -> Result<()> {
    let history = read_history(&files.metrics_jsonl())?;
    let title = format!("{} depth {} (actor {}) width {}", cfg.env, cfg.depth, cfg.actor_depth(), cfg.width);
    Ok(crate::curves::plot_curves(&history, &title, &files.curves())?)
}

/// Every row of a `metrics.jsonl`, in order. A line that is not a metrics row is an error naming it:
/// a curve with a silent gap would misreport the run.
pub fn read_history(path: &Path) -> Result<Vec<Metrics>> {
    read_jsonl(path, "a metrics row")
}

/// Every row of a JSON-lines file, in order, blank lines skipped. A line that does not parse is an
/// error naming the file, the line and `what` it should have been.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<Vec<T>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let rows = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    rows.map(|(i, l)| {
        serde_json::from_str(l)
            .with_context(|| format!("{} line {}: not {what}; fix or delete that line", path.display(), i + 1))
    })
    .collect()
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

/// Drops an unterminated last line (a write cut short by a kill) from an append-only file, so the
/// file is whole again before a resumed run appends to it. Returns whether anything was dropped.
pub fn repair_torn_tail(path: &Path) -> Result<bool> {
    let Ok(text) = fs::read(path) else { return Ok(false) };
    if text.is_empty() || text.ends_with(b"\n") {
        return Ok(false);
    }
    let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if keep == 0 && !text.is_empty() && path.extension().is_some_and(|e| e == "csv") {
        bail!("{}: no complete line (its header is cut off); delete the file and resume", path.display());
    }
    tracing::warn!(
        "{}: dropping a half-written last line ({} bytes) left by a kill",
        path.display(),
        text.len() - keep
    );
    models::atomic::write_bytes_atomic(path, &text[..keep])?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(env_steps: u64) -> String {
        let m = Metrics {
            env_steps,
            sgd_steps: 0,
            wall_s: 0.0,
            sps: 0.0,
            critic_loss: f32::NAN,
            actor_loss: 1.0,
            alpha: 0.1,
            entropy: 0.0,
            critic_accuracy: 0.5,
            success_rate: 0.25,
            success_ci95: [0.0, 0.5],
            time_at_goal: 0.0,
            time_at_goal_ci95: [0.0, 0.0],
            per_goal: BTreeMap::new(),
            topology: 0.5,
            euclidean_topology: f32::NAN,
            topology_partial: 0.25,
        };
        serde_json::to_string(&m).unwrap()
    }

    #[test]
    fn rows_from_before_the_topology_metric_read_back_and_an_old_csv_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let files = RunDir::new(dir.path());
        // A row as written before the metric existed: no topology keys.
        let old = row(7).replace(",\"topology\":0.5,\"euclidean_topology\":null,\"topology_partial\":0.25", "");
        assert!(!old.contains("topology"), "{old}");
        fs::write(files.metrics_jsonl(), format!("{old}\n{}\n", row(8))).unwrap();
        let h = read_history(&files.metrics_jsonl()).unwrap();
        assert!(h[0].topology.is_nan() && h[0].euclidean_topology.is_nan() && h[0].topology_partial.is_nan());
        assert_eq!((h[1].topology, h[1].topology_partial), (0.5, 0.25));
        let old_header = CSV_HEADER.strip_suffix(",topology,euclidean_topology,topology_partial").unwrap();
        fs::write(files.metrics_csv(), format!("{old_header}\n7,0,0,0,NaN,1,0.1,0,0.5,0.25,0\n")).unwrap();
        sync_csv(&files).unwrap();
        let csv = fs::read_to_string(files.metrics_csv()).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines.len(), 3, "one row per metrics.jsonl line");
        let columns = CSV_HEADER.split(',').count();
        assert!(lines.iter().all(|l| l.split(',').count() == columns), "{csv}");
        sync_csv(&files).unwrap();
        assert_eq!(fs::read_to_string(files.metrics_csv()).unwrap(), csv, "a current file is left alone");
    }

    #[test]
    fn a_bad_metrics_line_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        fs::write(&path, format!("{}\n{}\n", row(1), row(2))).unwrap();
        let h = read_history(&path).unwrap();
        assert_eq!(h.iter().map(|m| m.env_steps).collect::<Vec<_>>(), [1, 2]);
        assert!(h[0].critic_loss.is_nan(), "null reads back as NaN");
        fs::write(&path, format!("{}\n{{\"env_steps\": \"many\"}}\n{}\n", row(1), row(3))).unwrap();
        let e = format!("{:#}", read_history(&path).unwrap_err());
        assert!(e.contains("line 2") && e.contains("metrics.jsonl"), "{e}");
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_whole_files_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let whole = format!("{}\n{}\n", row(1), row(2));
        fs::write(&path, &whole).unwrap();
        assert!(!repair_torn_tail(&path).unwrap());
        let torn = format!("{whole}{}", &row(3)[..20]);
        fs::write(&path, torn).unwrap();
        assert!(repair_torn_tail(&path).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), whole);
        assert_eq!(read_history(&path).unwrap().len(), 2);
    }
}
