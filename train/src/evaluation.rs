//! One evaluation of a run: deterministic episodes on the eval goals, the maze plot, the
//! critic-topology metric, and the metrics row written to `metrics.jsonl` / `metrics.csv` /
//! `curves.png` / `eval.json`.

use envs::eval::{evaluate_with, EvalOptions};
use envs::point_maze::Layout;
use envs::seed::derive;
use envs::{eval_env_name, maze_layout, GoalEnv};
use models::atomic::write_bytes_atomic;
use models::infer::ActorInfer;
use models::CrlStats;
use plots::{plot_field_trajectories, plot_maze_trajectories};
use rundir::RunDir;

use crate::collect::Deterministic;
use crate::config::TrainConfig;
use crate::error::Result;
use crate::metrics::{append_line, csv_row, per_goal_success, plot_history, Metrics};
use crate::topology::{Topology, TopologyScore};
use crate::updater::Updater;

/// Eval episodes drawn in trajectories.png: enough to see each goal's typical path, few enough to read.
const TRAJECTORIES_PLOTTED: usize = 12;

/// Where the run stands when it evaluates.
pub struct Progress<'a> {
    pub env_steps: u64,
    pub sgd_steps: u64,
    /// The last update's statistics (NaN before the first).
    pub last: &'a CrlStats,
    pub wall_s: f64,
    pub sps: f64,
}

/// What every evaluation of a run reuses: the eval environments, the maze and its probes.
pub struct Evaluator {
    cfg: TrainConfig,
    files: RunDir,
    env: Box<dyn GoalEnv>,
    /// The maze and its cell size (4 for point and ant mazes, 2 for the humanoid's).
    layout: Option<(Layout, f32)>,
    /// A robot on open ground (`ant`, `humanoid`, a task file without a maze): its paths are drawn
    /// from above.
    open_field: bool,
    topology: Option<Topology>,
}

impl Evaluator {
    pub fn new(cfg: &TrainConfig, files: &RunDir, env: Box<dyn GoalEnv>) -> Result<Self> {
        let layout = maze_layout(&eval_env_name(&cfg.env), cfg.layout.as_deref())?;
        let topology = Topology::for_env(&cfg.env, layout.as_ref().map(|(l, _)| l));
        let open_field = layout.is_none() && (envs::is_robot_env(&cfg.env) || envs::task_file_of(&cfg.env).is_some());
        Ok(Evaluator { cfg: cfg.clone(), files: files.clone(), env, layout, open_field, topology })
    }

    /// Evaluates the current policy and critic and appends the row to the run's files.
    pub fn evaluate(&mut self, trainer: &mut Updater, actor: &mut ActorInfer, at: Progress) -> Result<Metrics> {
        let (cfg, files) = (&self.cfg, &self.files);
        // Paths of the first episodes, for trajectories.png (mazes only).
        let opts = EvalOptions {
            episodes: cfg.eval_episodes,
            seed: derive(cfg.seed, 2),
            trajectories: if self.layout.is_some() || self.open_field { TRAJECTORIES_PLOTTED } else { 0 },
        };
        let mut report = evaluate_with(self.env.as_mut(), &mut Deterministic(trainer.actor(actor)?), &opts)?;
        if let Some((layout, cell)) = &self.layout {
            let title = format!("{} after {} env steps: eval episodes from R", eval_env_name(&cfg.env), at.env_steps);
            plot_maze_trajectories(layout, *cell, &report.trajectories, &title, &files.trajectories())?;
            // The paths are in the picture; eval.json keeps the per-episode records only.
            report.trajectories.clear();
        } else if self.open_field {
            let title = format!("{} after {} env steps: eval paths from above", eval_env_name(&cfg.env), at.env_steps);
            let radius = self.env.spec().success_threshold;
            plot_field_trajectories(&report.trajectories, radius, &title, &files.trajectories())?;
            report.trajectories.clear();
        }
        let (score, euclidean_topology) = match &self.topology {
            Some(t) => (t.critic(trainer, actor)?, t.euclidean),
            None => (TopologyScore { topology: f32::NAN, partial: f32::NAN }, f32::NAN),
        };
        let last = at.last;
        let m = Metrics {
            env_steps: at.env_steps,
            sgd_steps: at.sgd_steps,
            wall_s: at.wall_s,
            sps: at.sps,
            critic_loss: last.critic_loss,
            actor_loss: last.actor_loss,
            alpha: last.alpha,
            entropy: last.entropy,
            critic_accuracy: last.critic_accuracy,
            success_rate: report.success_rate.mean,
            success_ci95: [report.success_rate.ci95_low, report.success_rate.ci95_high],
            time_at_goal: report.time_at_goal.mean,
            time_at_goal_ci95: [report.time_at_goal.ci95_low, report.time_at_goal.ci95_high],
            per_goal: per_goal_success(self.layout.as_ref().map(|(_, cell)| *cell), &report),
            topology: score.topology,
            euclidean_topology,
            topology_partial: score.partial,
        };
        log_eval(&m);
        append_line(&files.metrics_jsonl(), &serde_json::to_string(&m)?)?;
        plot_history(cfg, files)?;
        append_line(&files.metrics_csv(), &csv_row(&m))?;
        let eval = serde_json::json!({ "metrics": &m, "report": &report });
        write_bytes_atomic(&files.eval_json(), serde_json::to_string_pretty(&eval)?.as_bytes())?;
        Ok(m)
    }
}

fn log_eval(m: &Metrics) {
    let goals: Vec<String> = m.per_goal.iter().map(|(k, v)| format!("{k}:{v:.2}")).collect();
    tracing::info!(
        "env steps {:>9}  sgd {:>7}  {:>6.0}s  {:>6.0} sps  critic {:.3} acc {:.2}  alpha {:.3}  topology {:.2} (beyond straight line {:.2})  success {:.2} [{:.2}, {:.2}]  {}",
        m.env_steps,
        m.sgd_steps,
        m.wall_s,
        m.sps,
        m.critic_loss,
        m.critic_accuracy,
        m.alpha,
        m.topology,
        m.topology_partial,
        m.success_rate,
        m.success_ci95[0],
        m.success_ci95[1],
        goals.join(" ")
    );
}
