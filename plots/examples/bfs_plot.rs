//! Runs the BFS waypoint controller on a point maze, prints its evaluation (success rate,
//! time at goal, steps to the first success) and plots the first few episodes' paths.
//!
//! `cargo run --release -p plots --example bfs_plot -- --out docs/bfs_big_maze.png`

use std::path::PathBuf;

use clap::Parser;
use envs::eval::{evaluate_with, EvalOptions};
use envs::policies::{BfsWaypointPolicy, BFS_KD, BFS_KP};
use envs::{make_with, EnvOptions};
use plots::plot_maze_trajectories;

/// Evaluate the BFS waypoint controller on a point maze and plot its paths.
#[derive(Parser)]
struct Args {
    /// PNG to write.
    #[arg(long)]
    out: PathBuf,
    /// Maze environment.
    #[arg(long, default_value = "point_big_maze_eval")]
    env: String,
    /// Episodes plotted, one per distinct goal first.
    #[arg(long, default_value_t = 10)]
    episodes: usize,
    /// Episodes evaluated.
    #[arg(long, default_value_t = 200)]
    eval_episodes: usize,
    /// Steps per episode.
    #[arg(long, default_value_t = 350)]
    episode_length: usize,
    /// Proportional gain toward the next waypoint.
    #[arg(long, default_value_t = BFS_KP)]
    kp: f32,
    /// Velocity damping gain.
    #[arg(long, default_value_t = BFS_KD)]
    kd: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bfs_plot: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let opts = EnvOptions { episode_length: Some(a.episode_length), ..EnvOptions::default() };
    let layout = BfsWaypointPolicy::for_env(&a.env)?.layout().clone();
    let n = a.eval_episodes.max(a.episodes).min(256);
    let mut env = make_with(&a.env, n, a.seed, &opts)?;
    let mut policy = BfsWaypointPolicy::with_gains(layout.clone(), a.kp, a.kd);
    // Record more paths than are plotted, then plot one episode per distinct goal first.
    let recorded = (4 * a.episodes).min(a.eval_episodes.max(a.episodes));
    let eval_opts = EvalOptions { episodes: a.eval_episodes.max(a.episodes), seed: a.seed, trajectories: recorded };
    let report = evaluate_with(env.as_mut(), &mut policy, &eval_opts)?;
    let steps: Vec<u32> = report.records.iter().filter_map(|r| r.first_success_step).collect();
    let (sr, tg) = (report.success_rate, report.time_at_goal);
    println!(
        "{} L={} kp={} kd={}: {} episodes, success {:.3} [{:.3}, {:.3}], time_at_goal {:.3} [{:.3}, {:.3}], \
         steps to first success mean {:.1} max {}",
        a.env,
        a.episode_length,
        a.kp,
        a.kd,
        report.episodes,
        sr.mean,
        sr.ci95_low,
        sr.ci95_high,
        tg.mean,
        tg.ci95_low,
        tg.ci95_high,
        steps.iter().map(|&s| f64::from(s)).sum::<f64>() / steps.len().max(1) as f64,
        steps.iter().max().copied().unwrap_or(0),
    );
    let (mut plotted, mut repeats) = (Vec::new(), Vec::new());
    for t in &report.trajectories {
        if plotted.iter().any(|p: &envs::eval::Trajectory| p.goal == t.goal) {
            repeats.push(t.clone());
        } else {
            plotted.push(t.clone());
        }
    }
    plotted.extend(repeats);
    plotted.truncate(a.episodes);
    let reached = plotted.iter().filter(|t| t.success).count();
    let title = format!(
        "BFS waypoints on {}: {reached}/{} goals reached in {} steps (kp {}, kd {})",
        a.env,
        plotted.len(),
        a.episode_length,
        a.kp,
        a.kd
    );
    plot_maze_trajectories(&layout, envs::point_maze::CELL, &plotted, &title, &a.out)?;
    println!("wrote {}", a.out.display());
    Ok(())
}
