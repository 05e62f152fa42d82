//! `depth_sweep.png`: success rate, the critic-topology metric (and, where the runs recorded it, the
//! same metric beyond straight-line distance) and time at goal against depth.

use std::ops::Range;
use std::path::Path;

use plots::{render_png, DrawResult, PlotError};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{RunResult, SweepPoint};

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Three panels; a fourth (the topology metric beyond the straight line) widens the picture by a third.
const SIZE: (u32, u32) = (1560, 660);
const FONT: &str = "sans-serif";
/// Height of the legend and notes strip under the panels.
const FOOTER_H: u32 = 100;
const SUCCESS: RGBColor = RGBColor(31, 119, 180);
const TIME_AT_GOAL: RGBColor = RGBColor(0, 128, 96);
/// The same colours as the topology lines of a run's curves.png.
const TOPOLOGY: RGBColor = RGBColor(118, 42, 131);
const TOPOLOGY_PARTIAL: RGBColor = RGBColor(227, 119, 194);
const SEED: RGBColor = RGBColor(60, 60, 60);
const NOTE: RGBColor = RGBColor(110, 110, 110);

/// Writes the against-depth picture of `points` as a PNG at `path`.
pub fn plot_sweep(points: &[SweepPoint], title: &str, path: &Path) -> Result<(), PlotError> {
    render_png(path, |tmp| draw(points, title, tmp))
}

fn draw(points: &[SweepPoint], title: &str, out: &Path) -> DrawResult {
    let partial = super::records_partial(points);
    let (panel_count, width) = if partial { (4, SIZE.0 * 4 / 3) } else { (3, SIZE.0) };
    let root = BitMapBackend::new(out, (width, SIZE.1)).into_drawing_area();
    root.fill(&WHITE)?;
    // Shrink a long title to fit the width (DejaVu Sans averages about 0.55 em per character).
    let title_px = (f64::from(width - 40) / (0.56 * title.chars().count().max(1) as f64)).clamp(10.0, 24.0);
    let body = root.titled(title, (FONT, title_px))?;
    let (panels, footer) = body.split_vertically(body.dim_in_pixel().1.saturating_sub(FOOTER_H));
    if points.iter().all(|p| p.runs.is_empty()) {
        let (w, h) = panels.dim_in_pixel();
        let style = (FONT, 28).into_font().color(&NOTE).pos(Pos::new(HPos::Center, VPos::Center));
        panels.draw(&Text::new("no finished runs", (w as i32 / 2, h as i32 / 2), style))?;
    } else {
        let column = panels.dim_in_pixel().0 / panel_count;
        let (left, rest) = panels.split_horizontally(column);
        let (middle, rest) = rest.split_horizontally(column);
        let (beyond, right) = if partial {
            let (beyond, right) = rest.split_horizontally(column);
            (Some(beyond), right)
        } else {
            (None, rest)
        };
        let axis = DepthAxis::new(points);
        let seeds = |s: Option<super::SeedSpread>| s.map(|s| (s.mean, s.ci95));
        let panel = Panel {
            caption: "evaluation success rate",
            y_desc: "success rate",
            colour: SUCCESS,
            y: -0.02..1.02,
            reference: None,
        };
        draw_panel(&left, &panel, &axis, points, |p| seeds(p.seed_success), |r| Some(r.success_rate))?;
        // The straight-line score is a property of the maze and the probes, not of the network: one line.
        let euclid = points.iter().find_map(|p| p.euclidean_topology);
        let panel = Panel {
            caption: "critic topology (Spearman ρ vs shortest path)",
            y_desc: "rank correlation ρ",
            colour: TOPOLOGY,
            y: floor(points, |r| r.topology, |p| p.topology, euclid)..1.02,
            reference: euclid.map(|e| (e, "straight-line distance")),
        };
        draw_panel(&middle, &panel, &axis, points, |p| seeds(p.topology), |r| r.topology)?;
        if let Some(area) = beyond {
            let panel = Panel {
                caption: "topology beyond straight line (partial ρ)",
                y_desc: "partial rank correlation",
                colour: TOPOLOGY_PARTIAL,
                y: floor(points, |r| r.topology_partial, |p| p.topology_partial, Some(0.0))..1.02,
                reference: Some((0.0, "a critic blind to walls")),
            };
            draw_panel(&area, &panel, &axis, points, |p| seeds(p.topology_partial), |r| r.topology_partial)?;
        }
        let panel = Panel {
            caption: "time at goal",
            y_desc: "fraction of the episode at the goal",
            colour: TIME_AT_GOAL,
            y: -0.02..1.02,
            reference: None,
        };
        draw_panel(&right, &panel, &axis, points, |p| p.time_at_goal.map(|t| (t, None)), |r| Some(r.time_at_goal))?;
    }
    draw_footer(&footer, points)?;
    root.present()?;
    Ok(())
}

/// The bottom of a correlation panel: a little under the lowest value it shows (a seed, an interval's
/// end or the reference line), so that differences of a few hundredths stay visible; −0.2 when there
/// is none.
fn floor(
    points: &[SweepPoint],
    per_run: impl Fn(&RunResult) -> Option<f64>,
    spread: impl Fn(&SweepPoint) -> Option<super::SeedSpread>,
    reference: Option<f64>,
) -> f64 {
    let seeds = points.iter().flat_map(|p| &p.runs).filter_map(per_run);
    let bars = points.iter().filter_map(|p| spread(p).and_then(|t| t.ci95).map(|[lo, _]| lo));
    let low = seeds.chain(bars).chain(reference).fold(f64::INFINITY, f64::min);
    if low.is_finite() {
        (low - 0.1).max(-1.02)
    } else {
        -0.2
    }
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
    y: Range<f64>,
    /// A dashed horizontal line at a value, with its label.
    reference: Option<(f64, &'static str)>,
}

/// One panel: per depth the summary value (`summary` gives the mean and, if known, its 95% interval)
/// joined by a line, and every finished run's own value (`per_run`) as a hollow dot.
fn draw_panel(
    area: &Area,
    panel: &Panel,
    axis: &DepthAxis,
    points: &[SweepPoint],
    summary: impl Fn(&SweepPoint) -> Option<(f64, Option<[f64; 2]>)>,
    per_run: impl Fn(&RunResult) -> Option<f64>,
) -> DrawResult {
    let mut chart = ChartBuilder::on(area)
        .caption(panel.caption, (FONT, 20))
        .margin(12)
        .x_label_area_size(46)
        .y_label_area_size(62)
        .build_cartesian_2d(axis.clone(), panel.y.clone())?;
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
    if let Some((y, label)) = panel.reference {
        let (x0, x1) = (axis.range.range().start, axis.range.range().end);
        let dashes = DashedLineSeries::new([(x0, y), (x1, y)], 6, 4, NOTE.stroke_width(2));
        chart.draw_series(dashes)?;
        let style = (FONT, 13).into_font().color(&NOTE).pos(Pos::new(HPos::Left, VPos::Bottom));
        chart.draw_series(std::iter::once(Text::new(format!("{label}: {y:.2}"), (x0 + 0.05, y), style)))?;
    }
    let means: Vec<(f64, f64)> =
        points.iter().filter_map(|p| summary(p).map(|(m, _)| (log_depth(p.depth), m))).collect();
    chart.draw_series(LineSeries::new(means.iter().copied(), colour.stroke_width(2)))?;
    for p in points {
        let x = log_depth(p.depth);
        let Some((mean, interval)) = summary(p) else {
            // A depth whose runs are all unfinished keeps its tick and says why it is empty.
            let style = (FONT, 13).into_font().color(&NOTE).pos(Pos::new(HPos::Center, VPos::Center));
            let middle = (panel.y.start + panel.y.end) / 2.0;
            chart.draw_series(std::iter::once(Text::new("no finished run", (x, middle), style)))?;
            continue;
        };
        if let Some([lo, hi]) = interval {
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
        chart.draw_series(dots.filter_map(|(x, y)| y.filter(|y| y.is_finite()).map(|y| seed_dot((x, y)))))?;
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
            (SUCCESS, "success, topology: mean over seeds' final evaluations, with the 95% t-interval between seeds"),
            (TIME_AT_GOAL, "time at goal over all seeds' final episodes"),
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
