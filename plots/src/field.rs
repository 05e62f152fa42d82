//! Evaluation paths seen from above on open ground (the `ant` and `humanoid` tasks, whose goals lie on
//! a ring around the start): each episode's (x, y) path from its start, its goal with the success
//! radius, filled where the episode reached it.

use std::path::Path;

use envs::eval::Trajectory;
use plotters::prelude::*;

use crate::{DrawResult, PlotError};

/// Draws `trajectories` ((x, y) first in each position and goal) into a PNG at `path`, with goals
/// drawn as circles of radius `success_radius`.
pub fn plot_field_trajectories(
    trajectories: &[Trajectory],
    success_radius: f32,
    title: &str,
    path: &Path,
) -> Result<(), PlotError> {
    let err = |msg: String| PlotError { path: path.to_path_buf(), msg };
    if trajectories.is_empty() {
        return Err(err("no trajectories to draw".into()));
    }
    if let Some(k) = trajectories.iter().position(|t| t.goal.len() < 2 || t.positions.iter().any(|p| p.len() < 2)) {
        return Err(err(format!("trajectory {k} has fewer than 2 coordinates: only (x, y) paths can be drawn")));
    }
    let points =
        trajectories.iter().flat_map(|t| t.positions.iter().map(|p| [p[0], p[1]]).chain([[t.goal[0], t.goal[1]]]));
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for p in points.filter(|p| p.iter().all(|x| x.is_finite())) {
        for a in 0..2 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    if !(lo[0].is_finite() && hi[0].is_finite()) {
        return Err(err("no finite position to draw".into()));
    }
    // A square view around everything, a margin of one success radius, so distances read true.
    let half = (0..2).map(|a| (hi[a] - lo[a]) / 2.0).fold(success_radius, f32::max) + success_radius;
    let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    crate::render_png(path, |tmp| draw(trajectories, success_radius, centre, half, title, tmp))
}

fn draw(trajectories: &[Trajectory], radius: f32, c: [f32; 2], half: f32, title: &str, out: &Path) -> DrawResult {
    let root = BitMapBackend::new(out, (720, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let range = |k: usize| f64::from(c[k] - half)..f64::from(c[k] + half);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(range(0), range(1))?;
    chart.configure_mesh().light_line_style(WHITE).x_desc("world x").y_desc("world y").draw()?;
    let xy = |p: &[f32]| (f64::from(p[0]), f64::from(p[1]));
    // The goal circle's radius in pixels (the view is square, so one scale serves both axes).
    let px = |r: f32| (f64::from(r) / (2.0 * f64::from(half)) * 640.0).max(3.0) as i32;
    for (k, t) in trajectories.iter().enumerate() {
        let colour = Palette99::pick(k).to_rgba();
        chart.draw_series(LineSeries::new(t.positions.iter().map(|p| xy(p)), colour.stroke_width(2)))?;
        if let Some(start) = t.positions.first() {
            chart.draw_series(std::iter::once(Circle::new(xy(start), 3, BLACK.filled())))?;
        }
        if let Some(end) = t.positions.last() {
            chart.draw_series(std::iter::once(Cross::new(xy(end), 5, colour.stroke_width(2))))?;
        }
        let style = if t.success { colour.filled() } else { colour.stroke_width(2) };
        chart.draw_series(std::iter::once(Circle::new(xy(&t.goal), px(radius), style)))?;
    }
    root.present()?;
    Ok(())
}
