//! Draws runs' actor probes side by side and prints a summary table:
//! `cargo run --release -p train --example probe_plot -- OUT.png RUN_DIR...`.
//!
//! Each RUN_DIR was trained with `--probe-every N` (its `probe.jsonl`); runs are labelled by their
//! depths from config.toml and the deep-actor options they set (`--residual-init`, `--head-norm`,
//! `--lr-warmup`, `--lr`). The table (Markdown, on stdout) gives per run the heads' input scale at the first and
//! last row, the lowest mean log σ, the largest saturated fraction, the largest α, the lowest
//! entropy and the median change one step made to log σ's pre-activation. Exits 2 on a usage
//! error, 1 when a run has no probe file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use train::config::{ResidualInit, TrainConfig};
use train::probe::{self, ProbeRow};
use train::probe_plot::{plot_probes, ProbeRun};

/// Draw runs' actor probes (probe.jsonl) side by side.
#[derive(Parser)]
struct Args {
    /// The PNG to write.
    out: PathBuf,
    /// Run directories trained with --probe-every.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// The plot's title.
    #[arg(long, default_value = "actor probe")]
    title: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The run's depths, and the deep-actor options it changed from their defaults.
fn label(dir: &std::path::Path) -> String {
    let Ok(c) = TrainConfig::from_toml_file(&dir.join("config.toml")) else {
        return dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    };
    let mut label = if c.actor_depth() == c.depth {
        format!("depth {}", c.depth)
    } else {
        format!("critic {} / actor {}", c.depth, c.actor_depth())
    };
    if c.residual_init != ResidualInit::Standard {
        label += &format!(", residual {:?}", c.residual_init);
    }
    if c.head_norm {
        label += ", head norm";
    }
    if c.lr_warmup > 0 {
        label += &format!(", warm-up {}", c.lr_warmup);
    }
    if c.lr != TrainConfig::default().lr {
        label += &format!(", lr {:e}", c.lr);
    }
    label
}

fn run(args: &Args) -> Result<()> {
    let mut runs = Vec::new();
    for dir in &args.runs {
        let path = dir.join(probe::FILE);
        let rows =
            probe::read(&path).with_context(|| format!("{}: was it trained with --probe-every?", dir.display()))?;
        runs.push(ProbeRun { label: label(dir), rows });
    }
    plot_probes(&runs, &args.title, &args.out)?;
    println!("| run | rows (SGD steps) | heads' input RMS first → last | min mean log σ | max saturated | max α | min entropy | median step Δ raw |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in &runs {
        println!("{}", summary(r));
    }
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

fn summary(run: &ProbeRun) -> String {
    let rows = &run.rows;
    let fold = |f: fn(&ProbeRow) -> f32, pick: fn(f32, f32) -> f32, start: f32| rows.iter().map(f).fold(start, pick);
    let head = |r: Option<&ProbeRow>| r.and_then(|r| r.probe.stream_rms.last().copied()).unwrap_or(f32::NAN);
    let mut change: Vec<f32> = rows.iter().map(|r| r.probe.step_raw_change).collect();
    change.sort_by(f32::total_cmp);
    let median = change.get(change.len() / 2).copied().unwrap_or(f32::NAN);
    format!(
        "| {} | {} ({}–{}) | {:.2} → {:.2} | {:.2} | {:.3} | {:.3} | {:.2} | {:.3} |",
        run.label,
        rows.len(),
        rows.first().map_or(0, |r| r.sgd_steps),
        rows.last().map_or(0, |r| r.sgd_steps),
        head(rows.first()),
        head(rows.last()),
        fold(|r| r.probe.log_std_mean, f32::min, f32::INFINITY),
        fold(|r| r.probe.log_std_saturated, f32::max, 0.0),
        fold(|r| r.alpha, f32::max, 0.0),
        fold(|r| r.entropy, f32::min, f32::INFINITY),
        median
    )
}
