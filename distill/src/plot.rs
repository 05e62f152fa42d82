//! `report.png`: the distillation curve (held-out action error against SGD steps, log scale) beside
//! teacher and student closed-loop success and time at goal with their 95% intervals.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

use crate::report::{Closed, Report};

const FONT: &str = "sans-serif";
const TEACHER: RGBColor = RGBColor(60, 60, 60);
const STUDENT: RGBColor = RGBColor(31, 119, 180);
const BASELINE: RGBColor = RGBColor(255, 127, 14);

/// Writes the report's picture to `path` (via a temporary file in the same directory).
pub fn plot_report(report: &Report, path: &Path) -> Result<()> {
    let name = path.file_name().with_context(|| format!("{} names no file", path.display()))?;
    let tmp = path.with_file_name(format!(".{}.{}.tmp.png", name.to_string_lossy(), std::process::id()));
    let result = draw(report, &tmp).and_then(|()| std::fs::rename(&tmp, path).context("renaming the plot"));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("plotting {}", path.display()))
}

fn draw(report: &Report, out: &Path) -> Result<()> {
    let root = BitMapBackend::new(out, (1200, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "{}: depth-{} student ({}, {}) from a depth-{} teacher",
        report.env,
        report.config.student_depth,
        report.config.method,
        report.config.loss,
        report.teacher_cost.actor_depth
    );
    let body = root.titled(&title, (FONT, 22))?;
    let (left, right) = body.split_horizontally(640);

    let pts: Vec<(f64, f64)> = report
        .curve
        .iter()
        .filter(|p| p.heldout_action_mse > 0.0 && p.heldout_action_mse.is_finite())
        .map(|p| (p.sgd_steps as f64, f64::from(p.heldout_action_mse)))
        .collect();
    let x_max = pts.iter().map(|p| p.0).fold(1.0, f64::max);
    let (lo, hi) = pts.iter().fold((f64::MAX, f64::MIN), |(l, h), p| (l.min(p.1), h.max(p.1)));
    let (lo, hi) = if pts.is_empty() { (1e-4, 1.0) } else { (lo / 1.5, hi * 1.5) };
    let mut chart = ChartBuilder::on(&left)
        .caption("held-out action error (teacher-labelled states)", (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max * 1.02, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .x_desc("SGD steps")
        .y_desc("mean ‖tanh μs − tanh μt‖²")
        .x_label_formatter(&|x: &f64| format!("{x:.0}"))
        .y_label_formatter(&|y: &f64| format!("{y:.2e}"))
        .label_style((FONT, 14))
        .draw()?;
    chart.draw_series(LineSeries::new(pts.iter().copied(), STUDENT.stroke_width(2)))?;
    chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, STUDENT.filled())))?;

    let mut bars = ChartBuilder::on(&right)
        .caption("teacher (grey), student (blue), from scratch (orange); 95% CI", (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..4.0, 0.0..1.05)?;
    bars.configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .x_labels(0)
        .label_style((FONT, 14))
        .draw()?;
    let metric = |c: &Closed, k: usize| if k == 0 { c.success_rate } else { c.time_at_goal };
    for k in 0..2 {
        let policies = [
            Some((&report.teacher, TEACHER)),
            Some((&report.student, STUDENT)),
            report.baseline.as_ref().map(|b| (b, BASELINE)),
        ];
        for (j, (c, colour)) in policies.into_iter().enumerate().filter_map(|(j, p)| p.map(|p| (j, p))) {
            let s = metric(c, k);
            let x0 = 2.0 * k as f64 + 0.1 + 0.6 * j as f64;
            bars.draw_series(std::iter::once(Rectangle::new(
                [(x0, 0.0), (x0 + 0.55, s.mean)],
                colour.mix(0.8).filled(),
            )))?;
            let xm = x0 + 0.275;
            bars.draw_series(std::iter::once(PathElement::new(
                vec![(xm, s.ci95_low), (xm, s.ci95_high)],
                BLACK.stroke_width(2),
            )))?;
        }
    }
    for (x, label) in [(0.3, "success rate"), (2.3, "time at goal")] {
        bars.draw_series(std::iter::once(Text::new(label, (x, 1.04), (FONT, 16))))?;
    }
    root.present()?;
    Ok(())
}
