//! `probe.png`: runs' `probe.jsonl` files side by side, one colour per run, nine panels against SGD
//! steps: log σ (mean solid, minimum dashed), the log σ head's saturated fraction, α, entropy (with
//! its target), the heads' input scale, the actor's gradient norm, how far one step moved log σ,
//! the critic's and the entropy term's pull on log σ, and |μ|. Drawn by the `probe_plot` example.

use std::ops::Range;
use std::path::Path;

use plots::{render_png, DrawResult, PlotError};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::curves::{linear, logarithmic, points, span, FONT};
use crate::probe::ProbeRow;

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

const SIZE: (u32, u32) = (1500, 1100);
/// Tableau's ten, cycled over runs.
#[rustfmt::skip]
const RUNS: [RGBColor; 10] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44),
    RGBColor(214, 39, 40), RGBColor(148, 103, 189), RGBColor(140, 86, 75), RGBColor(227, 119, 194),
    RGBColor(127, 127, 127), RGBColor(188, 189, 34), RGBColor(23, 190, 207)];

/// One run to draw: its legend label and its rows.
pub struct ProbeRun {
    pub label: String,
    pub rows: Vec<ProbeRow>,
}

/// A panel: its caption, whether its axis is logarithmic, and up to two series per run (solid,
/// dashed).
struct Panel {
    caption: &'static str,
    log: bool,
    solid: fn(&ProbeRow) -> f64,
    dashed: Option<fn(&ProbeRow) -> f64>,
}

const PANELS: [Panel; 9] = [
    Panel {
        caption: "log σ: mean (solid), min (dashed)",
        log: false,
        solid: |r| r.probe.log_std_mean.into(),
        dashed: Some(|r| r.probe.log_std_min.into()),
    },
    Panel {
        caption: "log σ pre-activations beyond ±3",
        log: false,
        solid: |r| r.probe.log_std_saturated.into(),
        dashed: None,
    },
    Panel { caption: "α", log: true, solid: |r| r.alpha.into(), dashed: None },
    Panel { caption: "entropy", log: false, solid: |r| r.entropy.into(), dashed: None },
    Panel {
        caption: "RMS of the heads' input",
        log: true,
        solid: |r| r.probe.stream_rms.last().copied().unwrap_or(f32::NAN).into(),
        dashed: None,
    },
    Panel {
        caption: "actor gradient norm (per sample)",
        log: true,
        solid: |r| r.probe.grad_total.into(),
        dashed: None,
    },
    Panel {
        caption: "one step's change of log σ's pre-activation (RMS)",
        log: true,
        solid: |r| r.probe.step_raw_change.into(),
        dashed: None,
    },
    Panel {
        caption: "d loss/d log σ: critic (solid), entropy (dashed)",
        log: false,
        solid: |r| r.probe.d_log_std_q.into(),
        dashed: Some(|r| r.probe.d_log_std_entropy.into()),
    },
    Panel { caption: "mean |μ|", log: false, solid: |r| r.probe.mean_abs.into(), dashed: None },
];

/// Writes the probe curves of `runs` as a PNG at `path`.
pub fn plot_probes(runs: &[ProbeRun], title: &str, path: &Path) -> Result<(), PlotError> {
    render_png(path, |tmp| draw(runs, title, tmp))
}

fn draw(runs: &[ProbeRun], title: &str, out: &Path) -> DrawResult {
    let root = BitMapBackend::new(out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let body = root.titled(title, (FONT, 22))?;
    let x = |r: &ProbeRow| r.sgd_steps as f64;
    let xr = linear(span(runs.iter().flat_map(|run| run.rows.iter().map(x))));
    for (area, panel) in body.split_evenly((3, 3)).iter().zip(&PANELS) {
        draw_panel(area, panel, runs, &xr)?;
    }
    root.present()?;
    Ok(())
}

fn draw_panel(area: &Area, panel: &Panel, runs: &[ProbeRun], xr: &Range<f64>) -> DrawResult {
    let all = || {
        runs.iter().flat_map(|run| {
            run.rows.iter().flat_map(|r| std::iter::once((panel.solid)(r)).chain(panel.dashed.map(|f| f(r))))
        })
    };
    let mut builder = ChartBuilder::on(area);
    builder.caption(panel.caption, (FONT, 17)).margin(8).x_label_area_size(36).y_label_area_size(58);
    let x: Vec<Vec<f64>> = runs.iter().map(|run| run.rows.iter().map(|r| r.sgd_steps as f64).collect()).collect();
    macro_rules! series {
        ($chart:expr) => {{
            $chart
                .configure_mesh()
                .light_line_style(TRANSPARENT)
                .bold_line_style(BLACK.mix(0.12))
                .label_style((FONT, 13))
                .x_desc("SGD steps")
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_label_formatter(&|v| tick(*v))
                .draw()?;
            for (i, run) in runs.iter().enumerate() {
                let colour = RUNS[i % RUNS.len()];
                let solid = points(&x[i], run.rows.iter().map(panel.solid));
                $chart
                    .draw_series(LineSeries::new(solid, colour.stroke_width(2)))?
                    .label(run.label.as_str())
                    .legend(move |(px, py)| PathElement::new(vec![(px, py), (px + 18, py)], colour.stroke_width(2)));
                if let Some(f) = panel.dashed {
                    let dashed = points(&x[i], run.rows.iter().map(f));
                    $chart.draw_series(DashedLineSeries::new(dashed, 6, 4, colour.stroke_width(1)))?;
                }
            }
            $chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK.mix(0.3))
                .label_font((FONT, 13))
                .draw()?;
        }};
    }
    if panel.log {
        let mut chart = builder.build_cartesian_2d(xr.clone(), logarithmic(all()).log_scale())?;
        series!(chart);
    } else {
        let mut chart = builder.build_cartesian_2d(xr.clone(), linear(span(all())))?;
        series!(chart);
    }
    Ok(())
}

/// An axis value in at most three significant digits (a log axis's ticks are sums of floats).
fn tick(v: f64) -> String {
    if v != 0.0 && !(1e-2..1e4).contains(&v.abs()) {
        return format!("{v:.1e}");
    }
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.7000000000000001), "0.7");
        assert_eq!(tick(2000.0), "2000");
        assert_eq!(tick(-1.55), "-1.55");
        assert_eq!(tick(93129.8), "9.3e4");
        assert_eq!(tick(0.0), "0");
    }
    use models::fast::probe::ActorProbe;

    fn run(label: &str, n: u64, scale: f32) -> ProbeRun {
        let rows = (1..=n)
            .map(|i| ProbeRow {
                sgd_steps: i * 10,
                env_steps: i * 80,
                actor_loss: scale,
                alpha: scale * i as f32,
                entropy: 1.0 - i as f32,
                critic_loss: 2.0,
                probe: ActorProbe {
                    stream_rms: vec![1.0, 2.0 * scale],
                    log_std_mean: -2.0,
                    log_std_min: -5.0,
                    grad_total: if i == 2 { f32::NAN } else { scale },
                    step_raw_change: 0.0,
                    ..Default::default()
                },
            })
            .collect();
        ProbeRun { label: label.into(), rows }
    }

    #[test]
    fn draws_runs_with_gaps_zeros_and_one_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe.png");
        plot_probes(&[run("depth 4", 12, 1.0), run("depth 64", 1, 8.0), run("empty", 0, 1.0)], "t", &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000, "{} bytes", bytes.len());
    }
}
