//! Scores saved maze teachers with the critic-topology metric, including the measure beyond
//! straight-line distance that runs made before it existed did not record:
//! `cargo run --release -p train --example topology -- RUN_DIR... [--json]`.
//!
//! Each RUN_DIR is a point-maze run directory (its `config.toml` names the maze and any layout
//! file). The metric is computed on its checkpoint exactly as `train` computes it at an evaluation,
//! so `topology` reproduces the value the run's last evaluation recorded (printed beside it) when
//! the checkpoint is the one that evaluation scored.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;
use envs::{eval_env_name, maze_layout};
use models::infer::ActorInfer;
use train::config::TrainConfig;
use train::topology::Topology;

/// Score saved point-maze teachers with the critic-topology metric.
#[derive(Parser)]
struct Args {
    /// Point-maze run directories (each with config.toml and a checkpoint).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// One JSON object per run instead of the table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    // clap exits 2 on a usage error; anything else that fails is one line on stderr and exit 1.
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<()> {
    if !args.json {
        println!("| run | env | depth | seed | env steps | topology ρ | recorded ρ | beyond straight line | straight line ρ |");
        println!("|---|---|---|---|---|---|---|---|---|");
    }
    for run in &args.runs {
        let row = score(run).with_context(|| format!("scoring {}", run.display()))?;
        if args.json {
            println!("{row}");
        } else {
            let f = |k: &str| row[k].as_f64().map_or("–".to_string(), |v| format!("{v:.3}"));
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                run.display(),
                row["env"].as_str().unwrap_or(""),
                row["depth"],
                row["seed"],
                row["env_steps"],
                f("topology"),
                f("recorded_topology"),
                f("topology_partial"),
                f("euclidean_topology"),
            );
        }
    }
    Ok(())
}

fn score(run: &Path) -> Result<serde_json::Value> {
    let cfg = TrainConfig::from_toml_file(&run.join("config.toml"))?;
    let layout = maze_layout(&eval_env_name(&cfg.env), cfg.layout.as_deref())?;
    let Some(topology) = Topology::for_env(&cfg.env, layout.as_ref().map(|(l, _)| l)) else {
        bail!("{} is not a point maze: the metric's probes are point-mass states", cfg.env);
    };
    let model = models::checkpoint::load(&rundir::checkpoint_in(run)?)?;
    let actions = topology.actions(&mut ActorInfer::new(&model))?;
    let s = topology.score(&actions, &model)?;
    // What the last evaluation recorded, to compare with (absent before the run evaluated).
    let recorded = std::fs::read_to_string(run.join("eval.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .map(|e| e["metrics"].clone())
        .unwrap_or_default();
    let nan_as_null = |v: f32| if v.is_finite() { serde_json::json!(v) } else { serde_json::Value::Null };
    Ok(serde_json::json!({
        "run": run.display().to_string(),
        "env": cfg.env,
        "depth": cfg.depth,
        "seed": cfg.seed,
        "env_steps": recorded["env_steps"],
        "topology": nan_as_null(s.topology),
        "recorded_topology": recorded["topology"],
        "topology_partial": nan_as_null(s.partial),
        "euclidean_topology": nan_as_null(topology.euclidean),
    }))
}
