//! What a freshly initialised actor does at each depth: the size of its pre-tanh mean, its log std, and
//! the fraction of saturated actions (|tanh μ| > 0.99), over states and goals spread across the U-maze.
//!
//! `cargo run --release -p distill --example actor_stats -- [WIDTH] [CHECKPOINT...]`: without
//! checkpoints it initialises depths 4..256 (seed 0); with them it reports each checkpoint's actor.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::Parser;
use models::infer::ActorInfer;
use models::{Model, ModelConfig};

fn stats(model: &Model) -> Result<String> {
    let mut actor = ActorInfer::new(model);
    let rows = 512;
    let od = model.cfg.state_dim + model.cfg.goal_dim;
    // States on a grid over the maze's extent (x, y in [-2, 10]), zero velocity; goals mirrored.
    let obs: Vec<f32> = (0..rows)
        .flat_map(|i| {
            let (x, y) = ((i % 23) as f32 * 0.5 - 2.0, (i / 23) as f32 * 0.5 - 2.0);
            let mut o = vec![x, y, 0.0, 0.0, 8.0 - x, 8.0 - y];
            o.resize(od, 0.0);
            o
        })
        .collect();
    let (mean, log_std) = actor.distribution_obs(&obs, rows).map_err(|e| anyhow!("{e}"))?;
    let n = mean.len() as f32;
    let abs_mean = mean.iter().map(|m| m.abs()).sum::<f32>() / n;
    let saturated = mean.iter().filter(|m| m.tanh().abs() > 0.99).count() as f32 / n;
    let ls = log_std.iter().sum::<f32>() / n;
    Ok(format!("mean |μ| {abs_mean:8.3}   saturated {saturated:5.2}   mean log σ {ls:6.2}"))
}

/// Actor statistics at initialisation per depth, or of trained checkpoints.
#[derive(Parser)]
struct Args {
    /// Width of the freshly initialised actors.
    #[arg(default_value_t = 128)]
    width: usize,
    /// Checkpoints to report instead of fresh actors.
    checkpoints: Vec<PathBuf>,
}

fn main() -> Result<()> {
    let Args { width, checkpoints } = Args::parse();
    if !checkpoints.is_empty() {
        for path in &checkpoints {
            let model = models::checkpoint::load(path)?;
            println!("{}: depth {} {}", path.display(), model.cfg.actor_depth, stats(&model)?);
        }
        return Ok(());
    }
    for depth in [4, 8, 16, 32, 64, 128, 256] {
        let model = Model::init(&ModelConfig::point_maze(depth).with_width(width), 0)?;
        println!("init depth {depth:>4} width {width}: {}", stats(&model)?);
    }
    Ok(())
}
