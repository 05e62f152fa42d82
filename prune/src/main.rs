//! `cargo run --release -p prune -- --model runs/NAME --target-depth 16` (or `cargo prune ...`): removes
//! the least important residual blocks (or inner units) of a teacher or student, heals it by
//! distillation from the unpruned model, and reports success, size and measured latency before and after.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use prune::config::{PruneConfig, Score};
use prune::run::{prune, Event, Pruned};
use tracing_subscriber::EnvFilter;

/// Structured depth and width pruning of a deep CRL teacher or student, with healing (DESIGN.md section 7).
#[derive(Parser, Debug)]
#[command(name = "prune", version, about, long_about = None)]
struct Cli {
    /// The model to prune: a run directory (runs/NAME), a student or pruned-model directory
    /// (runs/NAME/students/ID), or a checkpoint file.
    #[arg(long)]
    model: PathBuf,
    /// Depth pruning: the actor depth to keep (Linear layers in residual blocks, a multiple of 4).
    #[arg(long)]
    target_depth: Option<usize>,
    /// Depth pruning: the number of residual blocks to keep (the same as --target-depth 4N).
    #[arg(long)]
    keep_blocks: Option<usize>,
    /// Width pruning: the fraction of each block's inner units (outputs of its first three Linear
    /// layers) to keep, strictly between 0 and 1.
    #[arg(long)]
    width_ratio: Option<f64>,
    /// Width pruning: narrow the residual stream by --width-ratio too, in every trunk and head.
    #[arg(long)]
    prune_stream: bool,
    /// Block importance for depth pruning: angular (angle between a block's input and output) or
    /// drop-one (change of the action when the block alone is removed; critic blocks use angular).
    #[arg(long, value_enum, default_value = "angular")]
    score: Score,
    /// Prune and heal the critic encoders too (same depth or width ratio); without it the output is
    /// actor-only, like a distilled student.
    #[arg(long)]
    critic: bool,
    /// Distillation steps from the unpruned model after pruning (0: no healing).
    #[arg(long, default_value_t = 2000)]
    heal_steps: usize,
    /// Learning rate of healing (Adam); lower than distilling from scratch, to keep what survived.
    #[arg(long, default_value_t = 3e-4)]
    heal_lr: f64,
    /// Healing batch size.
    #[arg(long, default_value_t = 256)]
    heal_batch_size: usize,
    /// Environments stepped together for healing rollouts.
    #[arg(long, default_value_t = 64)]
    heal_num_envs: usize,
    /// Steps per environment per healing collection round.
    #[arg(long, default_value_t = 16)]
    heal_unroll_length: usize,
    /// Healing SGD steps per collection round.
    #[arg(long, default_value_t = 32)]
    heal_sgd_steps_per_round: usize,
    /// Do not heal at 25%, 50% and 75% removal for the sensitivity curve (each such point costs one
    /// healing run); the target is healed regardless.
    #[arg(long)]
    no_heal_curve: bool,
    /// Evaluation states the importance scores are measured on (drop-one costs blocks²/2 block
    /// evaluations of them).
    #[arg(long, default_value_t = 256)]
    score_states: usize,
    /// Closed-loop episodes per point of the sensitivity curve.
    #[arg(long, default_value_t = 64)]
    curve_episodes: usize,
    /// Closed-loop episodes for the before/after comparison.
    #[arg(long, default_value_t = 128)]
    eval_episodes: usize,
    /// Environment for scoring, healing and evaluation (default: the model's).
    #[arg(long)]
    env: Option<String>,
    /// Seed of everything random in the run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory (default: <model dir>/pruned/<id>, e.g. keep4-angular or w0.50).
    #[arg(long)]
    out: Option<PathBuf>,
}

impl Cli {
    fn config(self) -> PruneConfig {
        PruneConfig {
            model: self.model,
            target_depth: self.target_depth,
            keep_blocks: self.keep_blocks,
            width_ratio: self.width_ratio,
            prune_stream: self.prune_stream,
            score: self.score,
            critic: self.critic,
            heal_steps: self.heal_steps,
            heal_lr: self.heal_lr,
            heal_batch_size: self.heal_batch_size,
            heal_num_envs: self.heal_num_envs,
            heal_unroll_length: self.heal_unroll_length,
            heal_sgd_steps_per_round: self.heal_sgd_steps_per_round,
            heal_curve: !self.no_heal_curve,
            score_states: self.score_states,
            curve_episodes: self.curve_episodes,
            eval_episodes: self.eval_episodes,
            env: self.env,
            seed: self.seed,
            out: self.out,
        }
    }
}

/// The pipeline with a progress bar for each healing run (on a terminal) and a log line per stage.
fn run(cfg: &PruneConfig) -> Result<Pruned> {
    let terminal = std::io::stderr().is_terminal();
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} SGD steps, ETA {eta} {msg}")?
        .progress_chars("=> ");
    let mut bar: Option<(String, ProgressBar)> = None;
    let result = prune(cfg, |e| match e {
        Event::Stage(s) => {
            if let Some((_, b)) = bar.take() {
                b.finish_and_clear();
            }
            tracing::info!("{s}");
        }
        Event::Heal { what, steps, point } => {
            if bar.as_ref().is_none_or(|(w, _)| w != what) {
                let b = if terminal { ProgressBar::new(steps as u64) } else { ProgressBar::hidden() };
                b.set_style(style.clone());
                b.set_prefix("healing");
                bar = Some((what.to_string(), b));
            }
            if let Some((_, b)) = &bar {
                b.set_position(point.sgd_steps as u64);
                b.set_message(format!("held-out action mse {:.5}", point.heldout_action_mse));
                b.suspend(|| {
                    tracing::info!(
                        "{what}: sgd {:>6}  loss {:.4}  held-out action mse {:.5}",
                        point.sgd_steps,
                        point.loss,
                        point.heldout_action_mse
                    )
                });
            }
        }
    });
    if let Some((_, b)) = bar {
        b.finish_and_clear();
    }
    result
}

fn summary(p: &Pruned) -> String {
    let r = &p.report;
    let (b, a) = (&r.before_cost, &r.after_cost);
    let retention = r.retention_success.map(|v| format!(" (retention {:.1}%)", 100.0 * v)).unwrap_or_default();
    format!(
        "pruned {}: actor depth {} → {}, parameters {} → {}, success {:.3} → {:.3}{retention}, batch-1 {:.1} µs → \
         {:.1} µs ({:.2}×)\nmodel: {0}/student.safetensors, {0}/student.onnx; report: {0}/report.md",
        p.out.display(),
        b.actor_depth,
        a.actor_depth,
        b.actor_parameters,
        a.actor_parameters,
        r.before.success_rate.mean,
        r.after.success_rate.mean,
        b.batch1_us,
        a.batch1_us,
        r.batch1_speedup
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,prune=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(&cli.config()) {
        Ok(p) => {
            println!("{}", summary(&p));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
