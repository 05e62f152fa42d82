//! Gathers a depth sweep's finished runs and draws success rate and the critic-topology metric
//! against depth: `cargo run --release -p train --example sweep_plot -- DIR [TITLE]`.
//!
//! DIR holds one run directory per (depth, seed), as `scripts/depth_sweep.sh` makes them. Writes
//! DIR/depth_sweep.png, DIR/sweep.json and DIR/sweep.md (the table it prints: one row per depth,
//! with each seed's final figures and the between-seed intervals). Exits 1 when no run in DIR
//! has finished (nothing to compare), 2 on a usage error.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use train::sweep::{collect_sweep, markdown_table, plot_sweep, write_sweep_json, SweepPoint};

/// Gather a depth sweep's finished runs and draw success rate and critic topology against depth.
#[derive(Parser)]
struct Args {
    /// A sweep directory with one run directory per depth and seed.
    dir: PathBuf,
    /// The plot's title (default: from the runs' environment).
    title: Option<String>,
}

fn main() -> ExitCode {
    // Warnings (skipped runs, mixed budgets) go to stderr; RUST_LOG overrides.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    // clap exits 2 on a usage error, as before.
    let Args { dir, title } = Args::parse();
    match run(&dir, title) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &std::path::Path, title: Option<String>) -> Result<ExitCode> {
    let points = collect_sweep(dir)?;
    if points.iter().all(|p| p.runs.is_empty()) {
        // With a finished run the table lists the skipped ones; without one, say why here.
        let skipped: Vec<String> = points
            .iter()
            .flat_map(|p| p.skipped.iter().map(move |s| format!("  depth {}: {} ({})", p.depth, s.name, s.reason())))
            .collect();
        eprintln!("error: no finished runs in {}", dir.display());
        if skipped.is_empty() && dir.join("config.toml").is_file() {
            eprintln!("  {} is a single run directory; pass the sweep directory that holds the runs", dir.display());
        } else if skipped.is_empty() {
            eprintln!("  no run directories (subdirectories with a config.toml) found");
        } else {
            eprintln!("{}", skipped.join("\n"));
        }
        return Ok(ExitCode::FAILURE);
    }
    let title = title.unwrap_or_else(|| default_title(&points));
    let png = dir.join("depth_sweep.png");
    let json = dir.join("sweep.json");
    plot_sweep(&points, &title, &png)?;
    write_sweep_json(&points, &json)?;

    let report = format!("{title}\n\n{}", markdown_table(&points));
    let md = dir.join("sweep.md");
    models::atomic::write_bytes_atomic(&md, report.as_bytes())?;
    println!("{report}");
    println!("wrote {}, {} and {}", png.display(), json.display(), md.display());
    Ok(ExitCode::SUCCESS)
}

/// "point_big_maze: depth sweep, 300k env steps per run, seeds 0, 1", from the finished runs.
fn default_title(points: &[SweepPoint]) -> String {
    let runs = || points.iter().flat_map(|p| &p.runs);
    let join = |v: Vec<String>| v.join(", ");
    let envs: BTreeSet<&str> = runs().map(|r| r.env.as_str()).collect();
    let budgets: BTreeSet<u64> = runs().map(|r| r.total_env_steps).collect();
    let seeds: BTreeSet<u64> = runs().map(|r| r.seed).collect();
    let steps = match budgets.iter().collect::<Vec<_>>().as_slice() {
        [b] => format!("{} env steps per run", thousands(**b)),
        _ => format!("mixed budgets ({} env steps)", join(budgets.iter().map(|b| thousands(*b)).collect())),
    };
    let envs = join(envs.into_iter().map(str::to_string).collect());
    let seeds_word = if seeds.len() == 1 { "seed" } else { "seeds" };
    format!("{envs}: depth sweep, {steps}, {seeds_word} {}", join(seeds.iter().map(u64::to_string).collect()))
}

/// 300000 as "300k", 1500000 as "1.5M" (exact values stay exact: 20480 is "20480").
fn thousands(v: u64) -> String {
    match v {
        v if v >= 1_000_000 && v % 100_000 == 0 => format!("{}M", v as f64 / 1e6),
        v if v >= 1_000 && v % 1_000 == 0 => format!("{}k", v / 1_000),
        v => v.to_string(),
    }
}
