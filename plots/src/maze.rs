//! Trajectory plots for the maze family (DESIGN.md section 4): walls, the start cell, goal cells and
//! each episode's path with its goal, as a PNG written atomically (`models::atomic`).
//!
//! The picture is laid out like the layout text: row i runs down the page, column j to the right.
//! In world coordinates that puts y = cell·column on the horizontal axis and x = cell·row on the
//! vertical axis, increasing downward; the axis labels say so. The cell is 4 world units for the
//! point and ant mazes, 2 for the humanoid's.

use std::path::Path;

use envs::eval::Trajectory;
use envs::point_maze::{Cell, Layout};
use plotters::prelude::*;

use crate::{DrawResult, PlotError};

/// Pixels per maze cell.
const PX: u32 = 80;

/// Draws `trajectories` (positions in goal space, (x, y)) over `layout`, whose cells are `cell`
/// world units wide, into a PNG at `path`.
pub fn plot_maze_trajectories(
    layout: &Layout,
    cell: f32,
    trajectories: &[Trajectory],
    title: &str,
    path: &Path,
) -> Result<(), PlotError> {
    let err = |msg: String| PlotError { path: path.to_path_buf(), msg };
    if let Some((k, _)) = trajectories.iter().enumerate().find(|(_, t)| t.goal.len() < 2) {
        return Err(err(format!("trajectory {k} has no 2-D goal: only maze trajectories can be plotted")));
    }
    if let Some(k) = trajectories.iter().position(|t| t.positions.iter().any(|p| p.len() < 2)) {
        return Err(err(format!("trajectory {k} has positions with fewer than 2 coordinates")));
    }
    if !(cell.is_finite() && cell > 0.0) {
        return Err(err(format!("the maze cell size must be a positive number, not {cell}")));
    }
    crate::render_png(path, |tmp| draw(layout, cell, trajectories, title, tmp))
}

fn draw(layout: &Layout, cell: f32, trajectories: &[Trajectory], title: &str, out: &Path) -> DrawResult {
    // Chart coordinates, in cells: (horizontal, vertical) = (world y, −world x) / cell, so rows run
    // downward.
    let screen = |p: &[f32]| (f64::from(p[1] / cell), -f64::from(p[0] / cell));
    let (rows, cols) = (layout.rows as u32, layout.cols as u32);
    let (caption, x_area, y_area, margin) = (40, 45, 60, 15);
    let size = (cols * PX + y_area + 2 * margin, rows * PX + caption + x_area + 2 * margin);
    let root = BitMapBackend::new(out, size).into_drawing_area();
    root.fill(&WHITE)?;
    let c = f64::from(cell);
    // Shrink the title until it fits the width (DejaVu Sans averages about 0.55 em per character).
    let title_px = (f64::from(size.0 - 2 * margin) / (0.56 * title.chars().count().max(1) as f64)).clamp(10.0, 22.0);
    // The chart works in cell units, so ticks fall on cell centres; labels give world coordinates.
    let x_range = -0.5..f64::from(cols) - 0.5;
    let y_range = -(f64::from(rows) - 0.5)..0.5;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", title_px))
        .margin(margin)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(x_range, y_range)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(format!("world y = {cell}·column"))
        .y_desc(format!("world x = {cell}·row (downward)"))
        .x_labels(cols as usize + 1)
        .y_labels(rows as usize + 1)
        .y_label_formatter(&|v| format!("{}", -v * c + 0.0))
        .x_label_formatter(&|v| format!("{}", v * c + 0.0))
        .draw()?;

    let wall = RGBColor(110, 110, 110);
    let start = RGBColor(170, 220, 170);
    let goal = RGBColor(255, 236, 170);
    let cells = (0..layout.rows).flat_map(|i| (0..layout.cols).map(move |j| (i, j)));
    let boxes = cells.filter_map(|(i, j)| {
        let colour = match layout.cell(i as i64, j as i64) {
            Cell::Wall => wall,
            Cell::Start => start,
            Cell::Goal => goal,
            Cell::Free => return None,
        };
        // Layout cells are centred on integer (row, column) positions in chart units.
        let (x, y) = (j as f64, -(i as f64));
        Some(Rectangle::new([(x - 0.5, y + 0.5), (x + 0.5, y - 0.5)], colour.filled()))
    });
    chart.draw_series(boxes)?;
    let (si, sj) = layout.start();
    let label_style = ("sans-serif", 16).into_font().color(&BLACK);
    chart.draw_series(std::iter::once(Text::new("start", (sj as f64 - 0.45, -(si as f64) + 0.45), label_style)))?;

    for (k, traj) in trajectories.iter().enumerate() {
        let colour = Palette99::pick(k).to_rgba();
        let line = traj.positions.iter().map(|p| screen(p));
        chart.draw_series(LineSeries::new(line, colour.stroke_width(2)))?;
        if let Some(end) = traj.positions.last() {
            chart.draw_series(std::iter::once(Circle::new(screen(end), 3, colour.filled())))?;
        }
        let g = screen(&traj.goal);
        if traj.success {
            let dots = [Circle::new(g, 7, colour.filled()), Circle::new(g, 7, BLACK.stroke_width(1))];
            chart.draw_series(dots)?;
        } else {
            chart.draw_series(std::iter::once(Cross::new(g, 7, colour.stroke_width(3))))?;
        }
    }
    root.present()?;
    Ok(())
}
