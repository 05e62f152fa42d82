//! The depth sweep: the finished runs of one experiment (the same budget and seeds at several depths)
//! gathered per depth, written as `sweep.json` and drawn as `depth_sweep.png`.
//!
//! A sweep directory holds one run directory per (depth, seed); `scripts/depth_sweep.sh` names them
//! `d<D>-s<S>`, but only each run's `config.toml` and `eval.json` are read, so any names do. A run
//! counts once its last evaluation reached its budget (`total_env_steps`); a run cut short is listed
//! in its depth's `skipped` instead, because mixing it in would pull that depth's rate down.
//!
//! Per depth, the final evaluation episodes of all its seeds are pooled: successes over episodes,
//! with a Wilson 95% interval. That interval reflects evaluation noise for these particular seeds,
//! not the spread between seeds, so the picture also draws every seed as its own dot.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::ops::Range;
use std::path::Path;

use crate::error::{bail, Context, Result};
use envs::eval::Stat;
use plots::{render_png, DrawResult, PlotError};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;

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

/// Every run of one depth. The pooled fields are `None` when no run of this depth has finished (the
/// depth is still listed, so that its `skipped` runs are not silently lost).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    pub depth: usize,
    /// Seeds of the finished runs, ascending.
    pub seeds: Vec<u64>,
    /// The finished runs, by seed.
    pub runs: Vec<RunResult>,
    /// Successful episodes and episodes over all finished runs' final evaluations.
    pub successes: usize,
    pub episodes: usize,
    /// `successes / episodes` with its Wilson 95% interval.
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
        runs.push(RunResult {
            name,
            seed: cfg.seed,
            env: cfg.env.clone(),
            total_env_steps: cfg.total_env_steps,
            env_steps: eval.metrics.env_steps,
            wall_s: eval.metrics.wall_s,
            success_rate: eval.metrics.success_rate,
            successes: eval.report.records.iter().filter(|r| r.success).count(),
            episodes: eval.report.episodes,
            time_at_goal: eval.metrics.time_at_goal,
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
    SweepPoint {
        depth,
        seeds: runs.iter().map(|r| r.seed).collect(),
        success: finished.then(|| Stat::wilson(successes, episodes)),
        time_at_goal: finished.then(|| runs.iter().map(|r| r.time_at_goal * r.episodes as f64).sum::<f64>() / n),
        mean_wall_s: finished.then(|| runs.iter().map(|r| r.wall_s).sum::<f64>() / runs.len() as f64),
        successes,
        episodes,
        runs,
        skipped,
    }
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

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

const SIZE: (u32, u32) = (1200, 660);
const FONT: &str = "sans-serif";
/// Height of the legend and notes strip under the panels.
const FOOTER_H: u32 = 100;
const SUCCESS: RGBColor = RGBColor(31, 119, 180);
const TIME_AT_GOAL: RGBColor = RGBColor(0, 128, 96);
const SEED: RGBColor = RGBColor(60, 60, 60);
const NOTE: RGBColor = RGBColor(110, 110, 110);

/// Writes the success-rate-against-depth picture of `points` as a PNG at `path`.
pub fn plot_sweep(points: &[SweepPoint], title: &str, path: &Path) -> Result<(), PlotError> {
    render_png(path, |tmp| draw(points, title, tmp))
}

fn draw(points: &[SweepPoint], title: &str, out: &Path) -> DrawResult {
    let root = BitMapBackend::new(out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    // Shrink a long title to fit the width (DejaVu Sans averages about 0.55 em per character).
    let title_px = (f64::from(SIZE.0 - 40) / (0.56 * title.chars().count().max(1) as f64)).clamp(10.0, 24.0);
    let body = root.titled(title, (FONT, title_px))?;
    let (panels, footer) = body.split_vertically(body.dim_in_pixel().1.saturating_sub(FOOTER_H));
    if points.iter().all(|p| p.runs.is_empty()) {
        let (w, h) = panels.dim_in_pixel();
        let style = (FONT, 28).into_font().color(&NOTE).pos(Pos::new(HPos::Center, VPos::Center));
        panels.draw(&Text::new("no finished runs", (w as i32 / 2, h as i32 / 2), style))?;
    } else {
        let (left, right) = panels.split_horizontally(panels.dim_in_pixel().0 * 3 / 5);
        let axis = DepthAxis::new(points);
        let success = |p: &SweepPoint| p.success.map(|s| (s.mean, s.ci95_low, s.ci95_high));
        let panel = Panel { caption: "evaluation success rate", y_desc: "success rate", colour: SUCCESS };
        draw_panel(&left, &panel, &axis, points, success, |r| r.success_rate)?;
        let time = |p: &SweepPoint| p.time_at_goal.map(|t| (t, f64::NAN, f64::NAN));
        let panel =
            Panel { caption: "time at goal", y_desc: "fraction of the episode at the goal", colour: TIME_AT_GOAL };
        draw_panel(&right, &panel, &axis, points, time, |r| r.time_at_goal)?;
    }
    draw_footer(&footer, points)?;
    root.present()?;
    Ok(())
}

/// Depth along x on a log2 scale, with a tick at each depth of the sweep and nowhere else (plotters'
/// own `with_key_points` on an `f64` range loses the label formatting `configure_mesh` needs).
#[derive(Clone)]
struct DepthAxis {
    ticks: Vec<f64>,
    range: RangedCoordf64,
}

impl DepthAxis {
    fn new(points: &[SweepPoint]) -> Self {
        let ticks: Vec<f64> = points.iter().map(|p| log_depth(p.depth)).collect();
        let lo = ticks.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ticks.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // Half an octave of margin keeps the end points' error bars and seed dots off the frame.
        let range = if lo.is_finite() { lo - 0.5..hi + 0.5 } else { 1.5..2.5 };
        DepthAxis { ticks, range: range.into() }
    }
}

impl Ranged for DepthAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.range.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Bold lines (and labels) at the depths; no light lines between them.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.range()
    }
}

fn log_depth(depth: usize) -> f64 {
    (depth.max(1) as f64).log2()
}

/// Horizontal offsets (log2 units) that spread `n` seed dots around their depth.
fn jitter(k: usize, n: usize) -> f64 {
    let step = (0.3 / n.max(1) as f64).min(0.06);
    (k as f64 - (n as f64 - 1.0) / 2.0) * step
}

struct Panel {
    caption: &'static str,
    y_desc: &'static str,
    colour: RGBColor,
}

/// One panel: per depth the pooled value (`pooled` gives mean, low, high; NaN bounds draw no bar)
/// joined by a line, and every finished run's own value (`per_run`) as a hollow dot.
fn draw_panel(
    area: &Area,
    panel: &Panel,
    axis: &DepthAxis,
    points: &[SweepPoint],
    pooled: impl Fn(&SweepPoint) -> Option<(f64, f64, f64)>,
    per_run: impl Fn(&RunResult) -> f64,
) -> DrawResult {
    let mut chart = ChartBuilder::on(area)
        .caption(panel.caption, (FONT, 20))
        .margin(12)
        .x_label_area_size(46)
        .y_label_area_size(62)
        .build_cartesian_2d(axis.clone(), -0.02..1.02)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .x_desc("depth (log scale)")
        .y_desc(panel.y_desc)
        .x_label_formatter(&|v| format!("{}", v.exp2().round()))
        .draw()?;
    let colour = panel.colour;
    let means: Vec<(f64, f64)> =
        points.iter().filter_map(|p| pooled(p).map(|(m, _, _)| (log_depth(p.depth), m))).collect();
    chart.draw_series(LineSeries::new(means.iter().copied(), colour.stroke_width(2)))?;
    for p in points {
        let x = log_depth(p.depth);
        let Some((mean, lo, hi)) = pooled(p) else {
            // A depth whose runs are all unfinished keeps its tick and says why it is empty.
            let style = (FONT, 13).into_font().color(&NOTE).pos(Pos::new(HPos::Center, VPos::Center));
            chart.draw_series(std::iter::once(Text::new("no finished run", (x, 0.5), style)))?;
            continue;
        };
        if lo.is_finite() && hi.is_finite() {
            let bar = colour.stroke_width(2);
            // Caps are a fixed number of pixels wide, whatever the depth range.
            let cap = |y| EmptyElement::at((x, y)) + PathElement::new(vec![(-7, 0), (7, 0)], bar);
            chart.draw_series([PathElement::new(vec![(x, lo), (x, hi)], bar)])?;
            chart.draw_series([cap(lo), cap(hi)])?;
        }
        chart.draw_series(std::iter::once(Circle::new((x, mean), 6, colour.filled())))?;
        let label = (FONT, 14).into_font().color(&colour).pos(Pos::new(HPos::Left, VPos::Center));
        chart.draw_series(std::iter::once(
            EmptyElement::at((x, mean)) + Text::new(format!("{mean:.2}"), (10, -10), label),
        ))?;
        // Seeds last, so a lone seed's ring shows on top of its depth's mean.
        let n = p.runs.len();
        let dots = p.runs.iter().enumerate().map(|(k, r)| (x + jitter(k, n), per_run(r)));
        chart.draw_series(dots.filter(|(_, y)| y.is_finite()).map(seed_dot))?;
    }
    Ok(())
}

/// A seed's own value: a hollow ring, distinct from the filled pooled markers.
fn seed_dot<C>(at: C) -> Circle<C, i32> {
    Circle::new(at, 4, SEED.mix(0.9).stroke_width(2))
}

/// The strip under the panels: the legend, each depth's seeds and the skipped runs.
fn draw_footer(area: &Area, points: &[SweepPoint]) -> DrawResult {
    let font = |colour: &RGBColor| (FONT, 15).into_font().color(colour).pos(Pos::new(HPos::Left, VPos::Center));
    let (x0, mut y) = (24, 14);
    if points.iter().any(|p| !p.runs.is_empty()) {
        // The legend: a glyph and its text per entry, each entry as wide as its text.
        let entries = [
            (SUCCESS, "pooled success rate over all seeds' final eval episodes, with its Wilson 95% interval"),
            (TIME_AT_GOAL, "time at goal over the same episodes"),
            (SEED, "one seed's run"),
        ];
        let mut x = x0;
        for (colour, text) in entries {
            if colour == SEED {
                area.draw(&seed_dot((x + 6, y)))?;
            } else {
                area.draw(&Circle::new((x + 6, y), 6, colour.filled()))?;
            }
            if colour == SUCCESS {
                area.draw(&PathElement::new(vec![(x + 6, y - 9), (x + 6, y + 9)], colour.stroke_width(2)))?;
            }
            area.draw(&Text::new(text, (x + 18, y), font(&BLACK)))?;
            let width = area.estimate_text_size(text, &(FONT, 15).into()).map_or(8 * text.len() as u32, |s| s.0);
            x += 18 + width as i32 + 30;
        }
        y += 26;
    }
    let finished = points.iter().filter(|p| !p.runs.is_empty());
    let seeds: Vec<String> = finished.map(|p| format!("depth {}: {}", p.depth, list(&p.seeds))).collect();
    let skipped: Vec<String> = points
        .iter()
        .flat_map(|p| &p.skipped)
        .map(|s| match s.env_steps {
            Some(e) => format!("{} ({e}/{})", s.name, s.total_env_steps),
            None => format!("{} (not evaluated)", s.name),
        })
        .collect();
    let lines = [("finished seeds", seeds, BLACK), ("skipped, unfinished", skipped, NOTE)];
    // About 0.55 em per character: cut a line to the strip's width rather than let it run off.
    let max = ((area.dim_in_pixel().0 as f64 - 2.0 * f64::from(x0)) / (0.55 * 15.0)) as usize;
    for (head, items, colour) in lines.iter().filter(|l| !l.1.is_empty()) {
        let mut line = format!("{head}   {}", items.join("   "));
        if line.chars().count() > max {
            line = line.chars().take(max.saturating_sub(1)).chain(std::iter::once('…')).collect();
        }
        area.draw(&Text::new(line, (x0, y), font(colour)))?;
        y += 26;
    }
    Ok(())
}

/// "0, 1, 2".
fn list(values: &[u64]) -> String {
    values.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    const PNG: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// A fake run directory: `config.toml` for (depth, seed, budget), and unless `eval` is `None`
    /// an `eval.json` at `env_steps` with `successes` of `episodes` and the given time at goal.
    fn fake_run(sweep: &Path, depth: usize, seed: u64, budget: u64, eval: Option<(u64, usize, usize, f64)>) -> PathBuf {
        let dir = sweep.join(format!("d{depth}-s{seed}"));
        fs::create_dir_all(&dir).unwrap();
        let cfg = TrainConfig { depth, seed, total_env_steps: budget, ..Default::default() };
        fs::write(dir.join("config.toml"), cfg.to_toml().unwrap()).unwrap();
        if let Some((env_steps, successes, episodes, tag)) = eval {
            let s = Stat::wilson(successes, episodes);
            let records: Vec<_> =
                (0..episodes).map(|i| json!({ "success": i < successes, "time_at_goal": tag })).collect();
            let eval = json!({
                "metrics": { "env_steps": env_steps, "sgd_steps": env_steps / 16, "wall_s": 10.0 * (seed + 1) as f64,
                             "success_rate": s.mean, "success_ci95": [s.ci95_low, s.ci95_high],
                             "time_at_goal": tag, "per_goal": { "(3,1)": s.mean } },
                "report": { "env": "point_u_maze_eval", "episodes": episodes, "records": records },
            });
            fs::write(dir.join("eval.json"), serde_json::to_string_pretty(&eval).unwrap()).unwrap();
        }
        dir
    }

    /// Depth 4: two finished seeds; depth 8: one finished, one short of its budget; depth 16: one run
    /// not evaluated yet; plus a directory that is no run at all.
    fn fake_sweep() -> tempfile::TempDir {
        let sweep = tempfile::tempdir().unwrap();
        fake_run(sweep.path(), 4, 1, 20_000, Some((20_480, 5, 8, 0.5)));
        fake_run(sweep.path(), 4, 0, 20_000, Some((20_000, 3, 8, 0.25)));
        fake_run(sweep.path(), 8, 0, 20_000, Some((20_000, 8, 8, 0.75)));
        fake_run(sweep.path(), 8, 1, 20_000, Some((10_000, 1, 8, 0.0)));
        fake_run(sweep.path(), 16, 0, 20_000, None);
        fs::create_dir_all(sweep.path().join("notes")).unwrap();
        fs::write(sweep.path().join("README.txt"), "not a run").unwrap();
        sweep
    }

    #[test]
    fn sweep_pools_seeds_per_depth() {
        let sweep = fake_sweep();
        let points = collect_sweep(sweep.path()).unwrap();
        assert_eq!(points.iter().map(|p| p.depth).collect::<Vec<_>>(), [4, 8, 16]);

        let p = &points[0];
        assert_eq!(p.seeds, [0, 1]);
        assert_eq!((p.successes, p.episodes), (8, 16));
        assert_eq!(p.success, Some(Stat::wilson(8, 16)));
        assert_eq!(p.success.unwrap().mean, 0.5);
        assert_eq!(p.time_at_goal, Some(0.375));
        assert_eq!(p.mean_wall_s, Some(15.0));
        assert_eq!(p.runs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["d4-s0", "d4-s1"]);
        assert_eq!((p.runs[0].successes, p.runs[0].episodes, p.runs[0].success_rate), (3, 8, 0.375));
        assert_eq!((p.runs[1].env_steps, p.runs[1].total_env_steps), (20_480, 20_000));
        assert!(p.skipped.is_empty());

        let p = &points[1];
        assert_eq!(p.seeds, [0]);
        assert_eq!((p.successes, p.episodes, p.success), (8, 8, Some(Stat::wilson(8, 8))));
        let unfinished = SkippedRun { name: "d8-s1".into(), seed: 1, env_steps: Some(10_000), total_env_steps: 20_000 };
        assert_eq!(p.skipped, [unfinished]);
        assert_eq!(p.skipped[0].reason(), "unfinished: 10000 of 20000 env steps");

        let p = &points[2];
        assert!(p.runs.is_empty() && p.seeds.is_empty());
        assert_eq!((p.successes, p.episodes, p.success, p.time_at_goal, p.mean_wall_s), (0, 0, None, None, None));
        assert_eq!(p.skipped.len(), 1);
        assert_eq!(p.skipped[0].env_steps, None);
    }

    #[test]
    fn sweep_json_round_trip() {
        let sweep = fake_sweep();
        let points = collect_sweep(sweep.path()).unwrap();
        let path = sweep.path().join("sweep.json");
        write_sweep_json(&points, &path).unwrap();
        let back: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        let p = &back["points"];
        assert_eq!(p.as_array().unwrap().len(), 3);
        assert_eq!(
            (p[0]["depth"].as_u64(), p[0]["successes"].as_u64(), p[0]["episodes"].as_u64()),
            (Some(4), Some(8), Some(16))
        );
        assert_eq!(p[0]["success"]["mean"].as_f64(), Some(0.5));
        assert_eq!(p[1]["skipped"][0]["name"], "d8-s1");
        assert!(p[2]["success"].is_null());
    }

    #[test]
    fn sweep_errors_name_the_file() {
        let expect_err = |dir: &Path, needle: &Path| {
            let e = format!("{:#}", collect_sweep(dir).unwrap_err());
            assert!(e.contains(&needle.display().to_string()), "{e}");
        };
        let sweep = tempfile::tempdir().unwrap();
        expect_err(&sweep.path().join("missing"), &sweep.path().join("missing"));

        let run = fake_run(sweep.path(), 4, 0, 20_000, Some((20_000, 3, 8, 0.25)));
        fs::write(run.join("eval.json"), "{\"metrics\": 3").unwrap();
        expect_err(sweep.path(), &run.join("eval.json"));

        // The records must be the whole evaluation, since successes are counted from them.
        let eval = json!({ "metrics": { "env_steps": 20_000, "wall_s": 1.0, "success_rate": 0.5, "time_at_goal": 0.1 },
                           "report": { "episodes": 8, "records": [{ "success": true }] } });
        fs::write(run.join("eval.json"), eval.to_string()).unwrap();
        expect_err(sweep.path(), &run.join("eval.json"));

        fs::write(run.join("config.toml"), "depth = \"deep\"\n").unwrap();
        expect_err(sweep.path(), &run.join("config.toml"));
    }

    fn plot_ok(points: &[SweepPoint], title: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("depth_sweep.png");
        plot_sweep(points, title, &path).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert!(bytes.len() > 1000);
        assert_eq!(bytes[..8], PNG);
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "the temporary file is gone");
    }

    #[test]
    fn sweep_plot_zero_one_and_three_depths() {
        let sweep = fake_sweep();
        let points = collect_sweep(sweep.path()).unwrap();
        plot_ok(&[], "no points");
        plot_ok(&points[2..], "only an unfinished depth");
        plot_ok(&points[..1], "one depth");
        plot_ok(&points, "three depths, one unfinished");
    }

    /// Renders the fake sweep to /tmp/sweep_sample.png for a look.
    #[test]
    #[ignore]
    fn sweep_sample() {
        let sweep = fake_sweep();
        let points = collect_sweep(sweep.path()).unwrap();
        plot_sweep(&points, "point_u_maze: success vs depth", Path::new("/tmp/sweep_sample.png")).unwrap();
    }
}
