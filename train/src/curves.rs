//! `curves.png`: a run's evaluation history as four panels against environment steps.
//!
//! 1. Eval success rate with its 95% interval as a shaded band, one thin line per goal cell
//!    (`per_goal`) and `time_at_goal` dashed; the legend sits in a strip right of the panel.
//! 2. Critic (InfoNCE) loss.
//! 3. Critic accuracy.
//! 4. α on a log scale (left axis) and policy entropy (right axis).
//!
//! Non-finite values are skipped, flat series get a padded axis, and an empty history still writes a
//! picture that says so. The PNG is rendered to a temporary file beside the target, then renamed.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;

use plots::{render_png, DrawResult, PlotError};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::metrics::Metrics;

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

const SIZE: (u32, u32) = (1200, 800);
pub(crate) const FONT: &str = "sans-serif";
/// Width of the legend strip right of the success panel.
const LEGEND_W: u32 = 150;
/// Histories this short get a marker on every evaluation, so single points show.
const MARKERS_UP_TO: usize = 30;
const SUCCESS: RGBColor = RGBColor(31, 119, 180);
const TIME_AT_GOAL: RGBColor = RGBColor(60, 60, 60);
const LOSS: RGBColor = RGBColor(214, 39, 40);
const ACCURACY: RGBColor = RGBColor(44, 160, 44);
const TOPOLOGY: RGBColor = RGBColor(118, 42, 131);
const TOPOLOGY_PARTIAL: RGBColor = RGBColor(227, 119, 194);
const ALPHA: RGBColor = RGBColor(148, 103, 189);
const ENTROPY: RGBColor = RGBColor(255, 127, 14);
/// Goal-cell lines, cycled; none is the success blue or the time-at-goal grey.
#[rustfmt::skip]
const GOALS: [RGBColor; 6] = [RGBColor(230, 159, 0), RGBColor(0, 158, 115), RGBColor(204, 121, 167),
    RGBColor(213, 94, 0), RGBColor(86, 180, 233), RGBColor(140, 86, 75)];

/// Writes the curves of `metrics` (one entry per evaluation, in order) as a PNG at `path`.
pub fn plot_curves(metrics: &[Metrics], title: &str, path: &Path) -> Result<(), PlotError> {
    render_png(path, |tmp| draw(metrics, title, tmp))
}

fn draw(metrics: &[Metrics], title: &str, out: &Path) -> DrawResult {
    let root = BitMapBackend::new(out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let title = match metrics.len() {
        0 => title.to_string(),
        1 => format!("{title} (one evaluation so far)"),
        n => format!("{title} ({n} evaluations)"),
    };
    // Shrink a long title to fit the width (DejaVu Sans averages about 0.55 em per character).
    let title_px = (f64::from(SIZE.0 - 40) / (0.56 * title.chars().count().max(1) as f64)).clamp(10.0, 24.0);
    let body = root.titled(&title, (FONT, title_px))?;
    if metrics.is_empty() {
        let (w, h) = body.dim_in_pixel();
        let style = (FONT, 28).into_font().color(&TIME_AT_GOAL).pos(Pos::new(HPos::Center, VPos::Center));
        body.draw(&Text::new("no evaluations yet", (w as i32 / 2, h as i32 / 2), style))?;
    } else {
        let panels = body.split_evenly((2, 2));
        let x: Vec<f64> = metrics.iter().map(|m| m.env_steps as f64).collect();
        let xr = linear(span(x.iter().copied()));
        success_panel(&panels[0], metrics, &x, &xr)?;
        let loss: Vec<f64> = metrics.iter().map(|m| f64::from(m.critic_loss)).collect();
        single_panel(&panels[1], "critic loss", &x, &xr, &loss, LOSS)?;
        critic_panel(&panels[2], metrics, &x, &xr)?;
        alpha_panel(&panels[3], metrics, &x, &xr)?;
    }
    root.present()?;
    Ok(())
}

/// Smallest and largest finite value, if any.
pub(crate) fn span(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// A linear axis range with 5% margins; a flat or empty series gets a padded range.
pub(crate) fn linear(span: Option<(f64, f64)>) -> Range<f64> {
    let (lo, hi) = span.unwrap_or((0.0, 1.0));
    let pad = if hi > lo { 0.05 * (hi - lo) } else { (0.1 * lo.abs()).max(0.05) };
    lo - pad..hi + pad
}

/// A log axis range over the positive finite values, padded by a factor; (1e-3, 1) if there are none.
pub(crate) fn logarithmic(values: impl Iterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = span(values.filter(|v| *v > 0.0)).unwrap_or((1e-3, 1.0));
    let pad = if hi > lo * 1.01 { 1.3 } else { 3.0 };
    lo / pad..hi * pad
}

/// The points whose coordinates are both finite.
pub(crate) fn points(x: &[f64], y: impl Iterator<Item = f64>) -> Vec<(f64, f64)> {
    x.iter().copied().zip(y).filter(|(a, b)| a.is_finite() && b.is_finite()).collect()
}

/// Environment steps as "250k", "1.5M".
fn steps(v: &f64) -> String {
    match v.abs() {
        a if a >= 1e6 => format!("{}M", (v / 1e5).round() / 10.0),
        a if a >= 1e3 => format!("{}k", (v / 1e2).round() / 10.0),
        _ => format!("{}", v.round()),
    }
}

/// A panel's chart: caption, margins, label areas (a right one only for a secondary axis).
fn chart<'a, 'b>(area: &'a Area<'b>, caption: &str, right_axis: u32) -> ChartBuilder<'a, 'b, BitMapBackend<'b>> {
    let mut builder = ChartBuilder::on(area);
    builder.caption(caption, (FONT, 20)).margin(10).x_label_area_size(42).y_label_area_size(60);
    if right_axis > 0 {
        builder.right_y_label_area_size(right_axis);
    }
    builder
}

/// The shared mesh style: faint grid, readable labels, environment steps along the bottom.
macro_rules! mesh {
    ($chart:expr) => {
        $chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.12))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .x_desc("environment steps")
            .x_label_formatter(&steps)
    };
}

/// Markers on every point of a short history (so a single evaluation shows), none on a long one.
fn marks(pts: &[(f64, f64)], colour: RGBColor) -> Vec<Circle<(f64, f64), i32>> {
    let short = pts.len() <= MARKERS_UP_TO;
    pts.iter().filter(|_| short).map(|p| Circle::new(*p, 3, colour.filled())).collect()
}

fn single_panel(area: &Area, caption: &str, x: &[f64], xr: &Range<f64>, y: &[f64], colour: RGBColor) -> DrawResult {
    let mut chart = chart(area, caption, 0).build_cartesian_2d(xr.clone(), linear(span(y.iter().copied())))?;
    mesh!(chart).draw()?;
    let pts = points(x, y.iter().copied());
    chart.draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2)))?;
    chart.draw_series(marks(&pts, colour))?;
    Ok(())
}

/// Critic accuracy and, on mazes, the topology metric: the critic's rank agreement with the maze's
/// shortest paths (solid) against straight-line distance's (dashed, the score of a critic blind to
/// walls), and the critic's ρ partial given straight-line distance (what it knows beyond the
/// straight line). Accuracy and Spearman's ρ share the axis; ρ can go below 0.
fn critic_panel(area: &Area, metrics: &[Metrics], x: &[f64], xr: &Range<f64>) -> DrawResult {
    let acc: Vec<f64> = metrics.iter().map(|m| f64::from(m.critic_accuracy)).collect();
    let topo: Vec<f64> = metrics.iter().map(|m| f64::from(m.topology)).collect();
    let euc: Vec<f64> = metrics.iter().map(|m| f64::from(m.euclidean_topology)).collect();
    let partial: Vec<f64> = metrics.iter().map(|m| f64::from(m.topology_partial)).collect();
    if topo.iter().all(|v| !v.is_finite()) {
        return single_panel(area, "critic accuracy", x, xr, &acc, ACCURACY);
    }
    let lo = span(acc.iter().chain(&topo).chain(&euc).chain(&partial).copied()).map_or(0.0, |(lo, _)| lo.min(0.0));
    let caption = "critic accuracy and topology";
    let mut chart = chart(area, caption, 0).build_cartesian_2d(xr.clone(), lo - 0.02..1.02)?;
    mesh!(chart).draw()?;
    let series = [
        (&acc, ACCURACY, "accuracy"),
        (&topo, TOPOLOGY, "topology ρ (vs shortest path)"),
        (&partial, TOPOLOGY_PARTIAL, "ρ beyond the straight line"),
    ];
    for (y, colour, label) in series {
        let pts = points(x, y.iter().copied());
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        chart.draw_series(marks(&pts, colour))?;
    }
    let pts = points(x, euc.iter().copied());
    let dashed = TOPOLOGY.mix(0.6).stroke_width(2);
    chart
        .draw_series(DashedLineSeries::new(pts, 8, 5, dashed))?
        .label("straight line's ρ (no walls)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 7, y)], dashed));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 13))
        .draw()?;
    Ok(())
}

fn success_panel(area: &Area, metrics: &[Metrics], x: &[f64], xr: &Range<f64>) -> DrawResult {
    let (plot, legend) = area.split_horizontally(area.dim_in_pixel().0.saturating_sub(LEGEND_W));
    let mut chart = chart(&plot, "evaluation success rate", 0).build_cartesian_2d(xr.clone(), -0.02..1.02)?;
    mesh!(chart).draw()?;
    // The 95% band: upper edge forward, lower edge back.
    let band: Vec<(f64, f64, f64)> = x
        .iter()
        .zip(metrics)
        .map(|(&x, m)| (x, m.success_ci95[0], m.success_ci95[1]))
        .filter(|(_, lo, hi)| lo.is_finite() && hi.is_finite())
        .collect();
    let band_style = SUCCESS.mix(0.2).filled();
    if band.len() >= 2 {
        let outline = band.iter().map(|b| (b.0, b.2)).chain(band.iter().rev().map(|b| (b.0, b.1)));
        chart.draw_series(std::iter::once(Polygon::new(outline.collect::<Vec<_>>(), band_style)))?;
    } else if let Some(&(x, lo, hi)) = band.first() {
        chart.draw_series(std::iter::once(PathElement::new(vec![(x, lo), (x, hi)], band_style.stroke_width(8))))?;
    }
    let goals: BTreeSet<&String> = metrics.iter().flat_map(|m| m.per_goal.keys()).collect();
    let mut entries =
        vec![("success rate", SUCCESS, 0), ("95% interval", SUCCESS, 2), ("time at goal", TIME_AT_GOAL, 1)];
    let goal_colours: Vec<RGBColor> = (0..goals.len()).map(|k| GOALS[k % GOALS.len()]).collect();
    for (&goal, &colour) in goals.iter().zip(&goal_colours) {
        let y = metrics.iter().map(|m| m.per_goal.get(goal).copied().unwrap_or(f64::NAN));
        let pts = points(x, y);
        chart.draw_series(LineSeries::new(pts, colour.mix(0.85).stroke_width(1)))?;
    }
    let tag = points(x, metrics.iter().map(|m| m.time_at_goal));
    chart.draw_series(DashedLineSeries::new(tag.iter().copied(), 8, 5, TIME_AT_GOAL.stroke_width(2)))?;
    chart.draw_series(marks(&tag, TIME_AT_GOAL))?;
    let pts = points(x, metrics.iter().map(|m| m.success_rate));
    chart.draw_series(LineSeries::new(pts.iter().copied(), SUCCESS.stroke_width(3)))?;
    chart.draw_series(marks(&pts, SUCCESS))?;

    // The legend, one row of 18 px each, as many goal cells as fit.
    let labels: Vec<String> = goals.iter().map(|g| format!("goal {g}")).collect();
    entries.extend(labels.iter().zip(goal_colours).map(|(l, c)| (l.as_str(), c, 3)));
    let rows = ((legend.dim_in_pixel().1.saturating_sub(40)) / 18) as usize;
    let font = (FONT, 14).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, &(label, colour, kind)) in entries.iter().enumerate().take(rows) {
        let y = 40 + 18 * i as i32;
        let text = if i + 1 == rows && entries.len() > rows { "…" } else { label };
        match kind {
            0 => legend.draw(&PathElement::new(vec![(4, y), (30, y)], colour.stroke_width(2)))?,
            1 => {
                legend.draw(&PathElement::new(vec![(4, y), (13, y)], colour.stroke_width(2)))?;
                legend.draw(&PathElement::new(vec![(19, y), (30, y)], colour.stroke_width(2)))?;
            }
            2 => legend.draw(&Rectangle::new([(4, y - 6), (30, y + 6)], colour.mix(0.2).filled()))?,
            _ => legend.draw(&PathElement::new(vec![(4, y), (30, y)], colour.stroke_width(1)))?,
        }
        legend.draw(&Text::new(text, (36, y), font.clone()))?;
    }
    Ok(())
}

fn alpha_panel(area: &Area, metrics: &[Metrics], x: &[f64], xr: &Range<f64>) -> DrawResult {
    let alpha: Vec<f64> = metrics.iter().map(|m| f64::from(m.alpha)).collect();
    let entropy: Vec<f64> = metrics.iter().map(|m| f64::from(m.entropy)).collect();
    // The caption names each series in its colour, so the panel needs no legend over the data.
    let (head, plot) = area.split_vertically(34);
    let parts = [("α (log scale, left axis)", ALPHA), ("   and   ", BLACK), ("entropy (right axis)", ENTROPY)];
    let widths: Vec<i32> =
        parts.iter().map(|(t, _)| head.estimate_text_size(t, &(FONT, 20).into()).map_or(0, |s| s.0 as i32)).collect();
    let mut left = (head.dim_in_pixel().0 as i32 - widths.iter().sum::<i32>()) / 2;
    for ((text, colour), w) in parts.iter().zip(widths) {
        let style = (FONT, 20).into_font().color(colour).pos(Pos::new(HPos::Left, VPos::Center));
        head.draw(&Text::new(*text, (left, 22), style))?;
        left += w;
    }
    let mut chart = ChartBuilder::on(&plot)
        .margin(10)
        .x_label_area_size(42)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(xr.clone(), logarithmic(alpha.iter().copied()).log_scale())?
        .set_secondary_coord(xr.clone(), linear(span(entropy.iter().copied())));
    mesh!(chart).y_desc("α").y_label_formatter(&|v| format!("{v:.0e}")).draw()?;
    chart.configure_secondary_axes().label_style((FONT, 14)).axis_desc_style((FONT, 15)).y_desc("entropy").draw()?;
    let pts = points(x, alpha.iter().copied().map(|a| if a > 0.0 { a } else { f64::NAN }));
    chart.draw_series(LineSeries::new(pts.iter().copied(), ALPHA.stroke_width(2)))?;
    chart.draw_series(marks(&pts, ALPHA))?;
    let pts = points(x, entropy.iter().copied());
    chart.draw_secondary_series(LineSeries::new(pts.iter().copied(), ENTROPY.stroke_width(2)))?;
    chart.draw_secondary_series(marks(&pts, ENTROPY))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const PNG: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// `n` evaluations every 100k steps of a run that learns: success rises, α anneals.
    fn history(n: usize) -> Vec<Metrics> {
        (0..n)
            .map(|i| {
                let t = i as f64 / n.max(2).saturating_sub(1) as f64;
                let s = 0.9 / (1.0 + (-10.0 * (t - 0.45)).exp());
                let goals = [("(1,6)", 0.0), ("(3,4)", 0.1), ("(5,1)", 0.2), ("(6,6)", 0.35)];
                let per_goal: BTreeMap<String, f64> = goals
                    .iter()
                    .map(|(g, d)| (g.to_string(), (0.95 / (1.0 + (-12.0 * (t - 0.3 - d)).exp())).min(1.0)))
                    .collect();
                Metrics {
                    env_steps: 100_000 * (i as u64 + 1),
                    sgd_steps: 1_000 * (i as u64 + 1),
                    wall_s: 30.0 * (i as f64 + 1.0),
                    sps: 3_300.0,
                    critic_loss: (5.5 - 3.0 * t + 0.1 * (i as f64).sin()) as f32,
                    actor_loss: -1.0,
                    alpha: (0.5 * (-6.0 * t).exp()) as f32,
                    entropy: (1.5 - 4.5 * (1.0 - (-3.0 * t).exp())) as f32,
                    critic_accuracy: (0.02 + 0.5 * t) as f32,
                    success_rate: s,
                    success_ci95: [(s - 0.1).max(0.0), (s + 0.1).min(1.0)],
                    time_at_goal: 0.6 * s,
                    time_at_goal_ci95: [0.5 * s, 0.7 * s],
                    per_goal,
                    topology: (0.2 + 0.6 * t) as f32,
                    euclidean_topology: 0.78,
                    topology_partial: (0.8 * t - 0.1) as f32,
                }
            })
            .collect()
    }

    fn plot_ok(metrics: &[Metrics]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("curves.png");
        plot_curves(metrics, "pointmaze_medium seed 0", &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes[..8], PNG);
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "the temporary file is gone");
    }

    #[test]
    fn curves_ten_points() {
        plot_ok(&history(10));
    }

    #[test]
    fn curves_single_point_and_empty() {
        plot_ok(&history(1));
        plot_ok(&[]);
    }

    #[test]
    fn curves_non_finite_and_flat_values() {
        let mut h = history(10);
        for (i, m) in h.iter_mut().enumerate() {
            m.critic_loss = if i % 2 == 0 { f32::NAN } else { 2.0 };
            m.alpha = [f32::INFINITY, 0.0, -1.0, 0.1][i % 4];
            m.entropy = f32::NAN;
            m.critic_accuracy = 0.0;
            m.success_rate = if i == 3 { f64::NAN } else { m.success_rate };
            m.success_ci95 = [f64::NAN, 1.0];
            m.per_goal.insert("(1,6)".into(), f64::NEG_INFINITY);
            m.topology = if i % 3 == 0 { f32::NAN } else { -0.4 };
            m.topology_partial = if i % 2 == 0 { f32::NAN } else { -0.9 };
        }
        plot_ok(&h);
        // Not a maze: no topology at all, the plain accuracy panel.
        for m in &mut h {
            (m.topology, m.euclidean_topology, m.topology_partial) = (f32::NAN, f32::NAN, f32::NAN);
        }
        plot_ok(&h);
    }

    /// Renders a realistic 50-evaluation history to /tmp/curves_sample.png for a look.
    #[test]
    #[ignore]
    fn curves_sample() {
        plot_curves(&history(50), "pointmaze_medium, seed 0: CRL teacher", Path::new("/tmp/curves_sample.png"))
            .unwrap();
    }
}
