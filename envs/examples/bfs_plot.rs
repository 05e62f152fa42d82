//! Runs the BFS waypoint controller on a point maze, prints its evaluation (success rate,
//! time at goal, steps to the first success) and plots the first few episodes' paths.
//!
//! `cargo run --release -p envs --example bfs_plot -- --out docs/bfs_big_maze.png`
//!
//! Flags: `--out PNG` (required), `--env NAME` (point_big_maze_eval), `--episodes N` plotted, distinct goals first (10),
//! `--eval-episodes N` (200), `--episode-length L` (350), `--kp K` (1.0), `--kd K` (0.3), `--seed S` (0).

use std::path::PathBuf;
use std::str::FromStr;

use envs::eval::{evaluate_with, EvalOptions};
use envs::plot::plot_maze_trajectories;
use envs::policies::{BfsWaypointPolicy, BFS_KD, BFS_KP};
use envs::{make_with, EnvOptions};

struct Args {
    out: PathBuf,
    env: String,
    episodes: usize,
    eval_episodes: usize,
    episode_length: usize,
    kp: f32,
    kd: f32,
    seed: u64,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        out: PathBuf::new(),
        env: "point_big_maze_eval".into(),
        episodes: 10,
        eval_episodes: 200,
        episode_length: 350,
        kp: BFS_KP,
        kd: BFS_KD,
        seed: 0,
    };
    let mut it = std::env::args().skip(1);
    fn num<T: FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        v.parse().map_err(|_| format!("{flag}: {v:?} is not a valid number"))
    }
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--out" => a.out = it.next().ok_or("--out needs a path")?.into(),
            "--env" => a.env = it.next().ok_or("--env needs a name")?,
            "--episodes" => a.episodes = num(&flag, it.next())?,
            "--eval-episodes" => a.eval_episodes = num(&flag, it.next())?,
            "--episode-length" => a.episode_length = num(&flag, it.next())?,
            "--kp" => a.kp = num(&flag, it.next())?,
            "--kd" => a.kd = num(&flag, it.next())?,
            "--seed" => a.seed = num(&flag, it.next())?,
            other => return Err(format!("unknown flag {other:?} (see the example's doc comment)")),
        }
    }
    if a.out.as_os_str().is_empty() {
        return Err("--out PNG is required".into());
    }
    Ok(a)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bfs_plot: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let a = parse()?;
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
    plot_maze_trajectories(&layout, &plotted, &title, &a.out)?;
    println!("wrote {}", a.out.display());
    Ok(())
}
