//! `report.png`: the sensitivity curve (closed-loop success against blocks removed or inner units
//! kept: a line without healing, points with healing, 95% intervals, the target marked) beside bars of
//! the measured batch-1 latency before and after, labelled with parameters and FLOPs.

use std::path::Path;

use distill::report::ActorCost;
use plots::{render_png, DrawResult, PlotError};
use plotters::prelude::*;

use crate::report::{Axis, Report};

const FONT: &str = "sans-serif";
const BEFORE: RGBColor = RGBColor(60, 60, 60);
const UNHEALED: RGBColor = RGBColor(255, 127, 14);
const HEALED: RGBColor = RGBColor(31, 119, 180);

/// Writes the report's picture to `path` (via a temporary file in the same directory).
pub fn plot_report(report: &Report, path: &Path) -> Result<(), PlotError> {
    render_png(path, |tmp| draw(report, tmp))
}

fn draw(report: &Report, out: &Path) -> DrawResult {
    let root = BitMapBackend::new(out, (1300, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!("{} on {}: {}", report.source, report.env, report.operation);
    let body = root.titled(&title, (FONT, 20))?;
    let (left, right) = body.split_horizontally(820);

    let xs: Vec<f64> = report.sensitivity.iter().map(|p| p.x).collect();
    let (x_lo, x_hi) = xs.iter().fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
    let pad = ((x_hi - x_lo) * 0.05).max(0.05);
    let mut chart = ChartBuilder::on(&left)
        .caption(format!("closed-loop success vs {} (95% CI)", report.axis.name()), (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(x_lo - pad..x_hi + pad, 0.0..1.05)?;
    let integers = report.axis == Axis::BlocksRemoved;
    let x_label = |x: &f64| match integers {
        // Blocks come whole: label only the integer ticks.
        true if x.fract().abs() > 1e-9 => String::new(),
        true => format!("{x:.0}"),
        false => format!("{x:.2}"),
    };
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .x_desc(report.axis.name())
        .x_label_formatter(&x_label)
        .y_desc("success rate")
        .label_style((FONT, 14))
        .draw()?;
    chart
        .draw_series(LineSeries::new([(report.target, 0.0), (report.target, 1.05)], BLACK.mix(0.2).stroke_width(1)))?;
    chart.draw_series(std::iter::once(Text::new(
        "target",
        (report.target + 0.01 * (x_hi - x_lo), 1.03),
        (FONT, 13),
    )))?;
    let unhealed: Vec<(f64, f64)> = report.sensitivity.iter().map(|p| (p.x, p.unhealed.success_rate.mean)).collect();
    chart
        .draw_series(LineSeries::new(unhealed.iter().copied(), UNHEALED.stroke_width(2)))?
        .label("without healing")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], UNHEALED.stroke_width(2)));
    chart.draw_series(unhealed.iter().map(|p| Circle::new(*p, 3, UNHEALED.filled())))?;
    let healed: Vec<_> = report.sensitivity.iter().filter_map(|p| p.healed.as_ref().map(|h| (p.x, h))).collect();
    chart
        .draw_series(healed.iter().map(|(x, h)| Circle::new((*x, h.success_rate.mean), 6, HEALED.filled())))?
        .label("healed")
        .legend(|(x, y)| Circle::new((x + 9, y), 5, HEALED.filled()));
    let bars = report
        .sensitivity
        .iter()
        .flat_map(|p| std::iter::once((p.x, &p.unhealed, UNHEALED)).chain(p.healed.as_ref().map(|h| (p.x, h, HEALED))));
    for (x, c, colour) in bars {
        let s = c.success_rate;
        // Healed intervals sit a little to the right, so the two at one point do not hide each other.
        let x = if colour == HEALED { x + 0.012 * (x_hi - x_lo) } else { x };
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, s.ci95_low), (x, s.ci95_high)],
            colour.mix(0.6).stroke_width(1),
        )))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 14))
        .draw()?;

    let costs: [(&str, &ActorCost, RGBColor); 2] =
        [("before", &report.before_cost, BEFORE), ("after", &report.after_cost, HEALED)];
    let top = costs.iter().map(|c| c.1.batch1_us).fold(1e-3, f64::max) * 1.3;
    let mut lat = ChartBuilder::on(&right)
        .caption("measured batch-1 latency of the actor", (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..2.0, 0.0..top)?;
    lat.configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .x_labels(0)
        .y_desc("µs per action")
        .label_style((FONT, 14))
        .draw()?;
    for (i, (name, cost, colour)) in costs.iter().enumerate() {
        let x0 = i as f64 + 0.15;
        lat.draw_series(std::iter::once(Rectangle::new(
            [(x0, 0.0), (x0 + 0.7, cost.batch1_us)],
            colour.mix(0.8).filled(),
        )))?;
        let label = format!("{name}: {:.1} µs", cost.batch1_us);
        let detail = format!("{} params, {} FLOPs", cost.actor_parameters, cost.flops_per_action);
        lat.draw_series(std::iter::once(Text::new(label, (x0, cost.batch1_us + 0.12 * top), (FONT, 15))))?;
        lat.draw_series(std::iter::once(Text::new(detail, (x0, cost.batch1_us + 0.06 * top), (FONT, 12))))?;
    }
    root.present()?;
    Ok(())
}
