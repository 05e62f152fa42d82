//! Evaluates a saved teacher on a maze's eval goals and draws its paths:
//! `cargo run --release -p train --example evaluate -- runs/NAME/teacher.safetensors [episode_length] [out.png]`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use envs::eval::{evaluate_with, EvalOptions};
use envs::plot::plot_maze_trajectories;
use envs::point_maze::Layout;
use envs::{make_with, EnvOptions};
use models::infer::ActorInfer;
use train::run::{eval_env_name, Deterministic};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let teacher = PathBuf::from(args.first().context("usage: evaluate TEACHER [episode_length] [out.png]")?);
    let episode_length: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let out = PathBuf::from(args.get(2).cloned().unwrap_or_else(|| "trajectories.png".into()));
    let model = models::checkpoint::load(&teacher)?;
    let env_name = eval_env_name(&model.cfg.env);
    let opts = EnvOptions { episode_length: Some(episode_length), ..EnvOptions::default() };
    let mut env = make_with(&env_name, 64, 1, &opts)?;
    let mut actor = ActorInfer::new(&model);
    let mut policy = Deterministic(&mut actor);
    let report = evaluate_with(env.as_mut(), &mut policy, &EvalOptions { episodes: 64, seed: 2, trajectories: 24 })?;
    println!("success {:.3}  time at goal {:.3}", report.success_rate.mean, report.time_at_goal.mean);
    let layout = Layout::builtin(env_name.trim_start_matches("point_")).context("not a built-in maze")?;
    plot_maze_trajectories(&layout, &report.trajectories, &env_name, &out)?;
    println!("paths: {}", out.display());
    Ok(())
}
