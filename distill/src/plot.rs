//! `report.png`: the distillation curves against labelled samples (closed-loop retention, and held-out
//! action error on a log scale), for DAgger and, when compared, bc; beside them the closed-loop success
//! and time at goal of teacher, students and the from-scratch baseline with their 95% intervals.

use std::path::Path;

use plots::{render_png, DrawResult, PlotError};
use plotters::prelude::*;

use crate::report::{Closed, Report};
use crate::run::CurvePoint;

const FONT: &str = "sans-serif";
const TEACHER: RGBColor = RGBColor(60, 60, 60);
const STUDENT: RGBColor = RGBColor(31, 119, 180);
const BASELINE: RGBColor = RGBColor(255, 127, 14);
/// The compared method (bc).
const OTHER: RGBColor = RGBColor(44, 160, 44);

/// Writes the report's picture to `path` (via a temporary file in the same directory).
pub fn plot_report(report: &Report, path: &Path) -> Result<(), PlotError> {
    render_png(path, |tmp| draw(report, tmp))
}

/// One method's curve: (labelled samples, value) pairs.
struct Series {
    label: String,
    colour: RGBColor,
    retention: Vec<(f64, f64)>,
    error: Vec<(f64, f64)>,
}

fn series(label: &str, colour: RGBColor, curve: &[CurvePoint], teacher_success: f64) -> Series {
    let retention = curve
        .iter()
        .filter_map(|p| {
            p.success_rate.map(|s| (p.labelled as f64, if teacher_success > 0.0 { s / teacher_success } else { 0.0 }))
        })
        .collect();
    let error = curve
        .iter()
        .filter(|p| p.heldout_action_mse > 0.0 && p.heldout_action_mse.is_finite())
        .map(|p| (p.labelled as f64, f64::from(p.heldout_action_mse)))
        .collect();
    Series { label: label.to_string(), colour, retention, error }
}

fn draw(report: &Report, out: &Path) -> DrawResult {
    let root = BitMapBackend::new(out, (1650, 520)).into_drawing_area();
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
    let panels = body.split_evenly((1, 3));
    let t = report.teacher.success_rate.mean;
    let mut all = vec![series(&report.config.method.to_string(), STUDENT, &report.curve, t)];
    if let Some(c) = &report.comparison {
        all.push(series(&c.method, OTHER, &c.curve, t));
    }
    let x_max = all.iter().flat_map(|s| s.error.iter().chain(&s.retention)).map(|p| p.0).fold(1.0, f64::max);

    let mut ret = ChartBuilder::on(&panels[0])
        .caption("retention: student / teacher closed-loop success", (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..x_max * 1.02, 0.0..1.15)?;
    ret.configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .x_desc("labelled samples")
        .x_label_formatter(&|x: &f64| format!("{:.0}k", x / 1000.0))
        .label_style((FONT, 14))
        .draw()?;
    ret.draw_series(LineSeries::new([(0.0, 1.0), (x_max, 1.0)], TEACHER.mix(0.6).stroke_width(1)))?;
    for s in &all {
        ret.draw_series(LineSeries::new(s.retention.iter().copied(), s.colour.stroke_width(2)))?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], s.colour.stroke_width(2)));
        ret.draw_series(s.retention.iter().map(|p| Circle::new(*p, 3, s.colour.filled())))?;
    }
    ret.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 14))
        .draw()?;

    let (lo, hi) = all.iter().flat_map(|s| &s.error).fold((f64::MAX, f64::MIN), |(l, h), p| (l.min(p.1), h.max(p.1)));
    let (lo, hi) = if lo > hi { (1e-4, 1.0) } else { (lo / 1.5, hi * 1.5) };
    let mut err = ChartBuilder::on(&panels[1])
        .caption("held-out action error (teacher-labelled states)", (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max * 1.02, (lo..hi).log_scale())?;
    err.configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .x_desc("labelled samples")
        .y_desc("mean ‖tanh μs − tanh μt‖²")
        .x_label_formatter(&|x: &f64| format!("{:.0}k", x / 1000.0))
        .y_label_formatter(&|y: &f64| format!("{y:.1e}"))
        .label_style((FONT, 14))
        .draw()?;
    for s in &all {
        err.draw_series(LineSeries::new(s.error.iter().copied(), s.colour.stroke_width(2)))?;
        err.draw_series(s.error.iter().map(|p| Circle::new(*p, 3, s.colour.filled())))?;
    }

    let mut bars = ChartBuilder::on(&panels[2])
        .caption("teacher, student, bc, from scratch; 95% CI", (FONT, 18))
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
    let policies = [
        Some((&report.teacher, TEACHER)),
        Some((&report.student, STUDENT)),
        report.comparison.as_ref().map(|c| (&c.student, OTHER)),
        report.baseline.as_ref().map(|b| (b, BASELINE)),
    ];
    let present: Vec<_> = policies.into_iter().flatten().collect();
    let w = 1.8 / present.len() as f64;
    for k in 0..2 {
        for (j, (c, colour)) in present.iter().enumerate() {
            let s = metric(c, k);
            let x0 = 2.0 * k as f64 + 0.1 + w * j as f64;
            bars.draw_series(std::iter::once(Rectangle::new(
                [(x0, 0.0), (x0 + 0.9 * w, s.mean)],
                colour.mix(0.8).filled(),
            )))?;
            let xm = x0 + 0.45 * w;
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
