//! Evaluates a saved teacher on its eval goals and draws its paths (over the maze, or from above for a
//! robot on open ground):
//! `cargo run --release -p train --example evaluate -- runs/NAME/teacher.safetensors [episode_length] [out.png]`.
//! The environment's options (episode length, layout file, Gymnasium kwargs) are the training run's
//! `config.toml`, found along the checkpoint's lineage; add `--features gym` for a `gym:` teacher.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use envs::eval::{evaluate_with, EvalOptions};
use envs::{eval_env_name, make_with, maze_layout, EnvOptions};
use models::infer::ActorInfer;
use plots::{plot_field_trajectories, plot_maze_trajectories};
use rundir::Deterministic;
use train::config::TrainConfig;

/// Evaluate a teacher's deterministic actor on its maze's eval goals and plot the paths.
#[derive(Parser)]
struct Args {
    /// A run directory (runs/NAME), a student directory or a checkpoint file.
    teacher: PathBuf,
    /// Steps per episode [default: the training run's, else 1000].
    episode_length: Option<usize>,
    /// PNG to write.
    #[arg(default_value = "trajectories.png")]
    out: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let checkpoint = rundir::checkpoint_in(&args.teacher)?;
    let model = models::checkpoint::load(&checkpoint)?;
    let env_name = eval_env_name(&model.cfg.env);
    let run = TrainConfig::of_checkpoint(&checkpoint, &model.cfg)?;
    let base = run.map(|(_, cfg)| cfg.eval_env_options()).unwrap_or_default();
    let episode_length = args.episode_length.or(base.episode_length).unwrap_or(1000);
    let opts = EnvOptions { episode_length: Some(episode_length), ..base };
    let mut env = make_with(&env_name, 64, 1, &opts)?;
    let mut actor = ActorInfer::new(&model);
    let mut policy = Deterministic(&mut actor);
    let report = evaluate_with(env.as_mut(), &mut policy, &EvalOptions { episodes: 64, seed: 2, trajectories: 24 })?;
    println!("success {:.3}  time at goal {:.3}", report.success_rate.mean, report.time_at_goal.mean);
    // A maze of the run's own layout file is drawn from that file.
    match maze_layout(&env_name, opts.layout.as_deref())? {
        Some((layout, cell)) => plot_maze_trajectories(&layout, cell, &report.trajectories, &env_name, &args.out)?,
        None => {
            let radius = env.spec().success_threshold;
            plot_field_trajectories(&report.trajectories, radius, &env_name, &args.out)?;
        }
    }
    println!("paths: {}", args.out.display());
    Ok(())
}
