//! `PruneConfig`: everything one pruning run needs, which is also `prune`'s command line, with the
//! checks that turn bad arguments into errors that name the value and say what to do. [`PruneConfig::validate`] checks what can be checked
//! without the model; [`PruneConfig::operation`] checks the rest against the model's configuration.

use std::path::{Path, PathBuf};

use crate::error::{bail, Result};
use clap::ArgAction;
use models::ModelConfig;
use serde::{Deserialize, Serialize};

/// How residual blocks are scored for depth pruning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Score {
    /// The mean angle between a block's input and output over evaluation states.
    Angular,
    /// The mean squared change of the deterministic action when the block alone is removed (actor only;
    /// critic blocks are always scored by angle).
    DropOne,
}

impl Score {
    pub fn name(self) -> &'static str {
        match self {
            Score::Angular => "angular",
            Score::DropOne => "drop-one",
        }
    }
}

/// What a run removes, resolved against the model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Operation {
    /// Keep this many residual blocks in the actor (and in each critic encoder with `critic`).
    Depth { keep_blocks: usize },
    /// Keep this fraction of each block's inner units (and of the residual stream with `stream`).
    Width { ratio: f64, stream: bool },
}

/// One pruning run. The struct is also `prune`'s command line (`clap::Args`): each field's doc comment
/// is its flag's help and [`Default`] gives every default; flags override `--config FILE.toml`, which
/// overrides the defaults (`rundir::config`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct PruneConfig {
    /// The model to prune: a run directory (runs/NAME), a student or pruned-model directory
    /// (runs/NAME/students/ID), or a checkpoint file.
    #[arg(long)]
    pub model: PathBuf,
    /// Depth pruning: the actor depth to keep (Linear layers in residual blocks, a multiple of 4).
    #[arg(long)]
    pub target_depth: Option<usize>,
    /// Depth pruning: the number of residual blocks to keep (the same as --target-depth 4N).
    #[arg(long)]
    pub keep_blocks: Option<usize>,
    /// Width pruning: the fraction of each block's inner units (outputs of its first three Linear
    /// layers) to keep, strictly between 0 and 1.
    #[arg(long)]
    pub width_ratio: Option<f64>,
    /// Width pruning: narrow the residual stream by --width-ratio too, in every trunk and head.
    #[arg(long)]
    pub prune_stream: bool,
    /// Block importance for depth pruning.
    #[arg(long, value_enum, default_value_t = PruneConfig::default().score)]
    pub score: Score,
    /// Prune and heal the critic encoders too (same depth or width ratio); without it the output is
    /// actor-only, like a distilled student.
    #[arg(long)]
    pub critic: bool,
    /// Distillation steps from the unpruned model after pruning (0: no healing).
    #[arg(long, default_value_t = PruneConfig::default().heal_steps)]
    pub heal_steps: usize,
    /// Learning rate of healing (Adam); lower than distilling from scratch, to keep what survived.
    #[arg(long, default_value_t = PruneConfig::default().heal_lr)]
    pub heal_lr: f64,
    /// Healing batch size.
    #[arg(long, default_value_t = PruneConfig::default().heal_batch_size)]
    pub heal_batch_size: usize,
    /// Environments stepped together for healing rollouts.
    #[arg(long, default_value_t = PruneConfig::default().heal_num_envs)]
    pub heal_num_envs: usize,
    /// Steps per environment per healing collection round.
    #[arg(long, default_value_t = PruneConfig::default().heal_unroll_length)]
    pub heal_unroll_length: usize,
    /// Healing SGD steps per collection round.
    #[arg(long, default_value_t = PruneConfig::default().heal_sgd_steps_per_round)]
    pub heal_sgd_steps_per_round: usize,
    /// Heal at 25%, 50% and 75% removal too, for the sensitivity curve (each point costs one healing
    /// run; the target is healed regardless). `--no-heal-curve` skips them (`heal_curve = false` in a
    /// config file).
    #[arg(long = "no-heal-curve", action = ArgAction::SetFalse, default_value_t = PruneConfig::default().heal_curve)]
    pub heal_curve: bool,
    /// Evaluation states the importance scores are measured on (drop-one costs blocks²/2 block
    /// evaluations of them).
    #[arg(long, default_value_t = PruneConfig::default().score_states)]
    pub score_states: usize,
    /// Closed-loop episodes per point of the sensitivity curve.
    #[arg(long, default_value_t = PruneConfig::default().curve_episodes)]
    pub curve_episodes: usize,
    /// Closed-loop episodes for the before/after comparison.
    #[arg(long, default_value_t = PruneConfig::default().eval_episodes)]
    pub eval_episodes: usize,
    /// Environment for scoring, healing and evaluation (default: the model's).
    #[arg(long)]
    pub env: Option<String>,
    /// Seed of everything random in the run.
    #[arg(long, default_value_t = PruneConfig::default().seed)]
    pub seed: u64,
    /// Output directory (default: <model dir>/pruned/<id>, e.g. keep4-angular or w0.50).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl Default for PruneConfig {
    fn default() -> Self {
        PruneConfig {
            model: PathBuf::new(),
            target_depth: None,
            keep_blocks: None,
            width_ratio: None,
            prune_stream: false,
            score: Score::Angular,
            critic: false,
            heal_steps: 2000,
            heal_lr: 3e-4,
            heal_batch_size: 256,
            heal_num_envs: 64,
            heal_unroll_length: 16,
            heal_sgd_steps_per_round: 32,
            heal_curve: true,
            score_states: 256,
            curve_episodes: 64,
            eval_episodes: 128,
            env: None,
            seed: 0,
            out: None,
        }
    }
}

impl PruneConfig {
    /// The checks that need no model: one operation, sensible values.
    pub fn validate(&self) -> Result<()> {
        let depth = self.target_depth.is_some() || self.keep_blocks.is_some();
        if self.target_depth.is_some() && self.keep_blocks.is_some() {
            bail!(config: "give --target-depth or --keep-blocks, not both (--target-depth D keeps D/4 blocks)");
        }
        if !depth && self.width_ratio.is_none() {
            bail!(config: "nothing to prune: give --target-depth D, --keep-blocks N or --width-ratio R");
        }
        if depth && self.width_ratio.is_some() {
            bail!(config:
                "prune depth and width in two runs: first --target-depth/--keep-blocks, then --width-ratio with \
                 --model set to the first run's output directory"
            );
        }
        if let Some(d) = self.target_depth {
            if d == 0 || !d.is_multiple_of(4) {
                bail!(config:
                    "--target-depth {d}: must be a positive multiple of 4 (depth counts the Linear layers in \
                     residual blocks of 4; --keep-blocks N is the same as --target-depth 4N)"
                );
            }
        }
        if self.keep_blocks == Some(0) {
            bail!(config: "--keep-blocks 0: keep at least one residual block");
        }
        if let Some(r) = self.width_ratio {
            if !(r > 0.0 && r < 1.0) {
                bail!(config:
                    "--width-ratio {r}: must be strictly between 0 and 1 (the fraction of each block's inner \
                     units to keep, e.g. 0.5)"
                );
            }
        }
        if self.prune_stream && self.width_ratio.is_none() {
            bail!(config: "--prune-stream narrows the residual stream by --width-ratio; give --width-ratio too");
        }
        let positive = [
            ("--score-states", self.score_states),
            ("--curve-episodes", self.curve_episodes),
            ("--eval-episodes", self.eval_episodes),
            ("--heal-batch-size", self.heal_batch_size),
            ("--heal-num-envs", self.heal_num_envs),
            ("--heal-unroll-length", self.heal_unroll_length),
            ("--heal-sgd-steps-per-round", self.heal_sgd_steps_per_round),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            bail!(config: "{name} 0: must be positive");
        }
        if !(self.heal_lr > 0.0 && self.heal_lr.is_finite()) {
            bail!(config: "--heal-lr {}: must be a positive number", self.heal_lr);
        }
        Ok(())
    }

    /// What to remove from the model of `cfg` (loaded from `path`), or why that cannot be done.
    pub fn operation(&self, cfg: &ModelConfig, path: &Path) -> Result<Operation> {
        self.validate()?;
        let p = path.display();
        if self.critic && cfg.critic_depth == 0 {
            bail!(config: "--critic: {p} has no critic (critic_depth 0, an actor-only model); drop --critic");
        }
        if let Some(ratio) = self.width_ratio {
            let widths = cfg.block_inner_widths(models::config::TrunkKind::Actor);
            let smaller = widths.iter().flatten().any(|&w| kept_units(w, ratio) < w)
                || (self.prune_stream && kept_units(cfg.width, ratio) < cfg.width);
            if !smaller {
                bail!(config:
                    "--width-ratio {ratio} keeps every unit of {p} (width {}): nothing to prune; choose a smaller \
                     ratio",
                    cfg.width
                );
            }
            return Ok(Operation::Width { ratio, stream: self.prune_stream });
        }
        let (blocks, depth) = (cfg.actor_depth / 4, cfg.actor_depth);
        if blocks == 1 {
            bail!(config: "{p}'s actor has a single residual block (depth 4): there is no block to remove");
        }
        let keep = self.keep_blocks.or(self.target_depth.map(|d| d / 4)).unwrap_or(blocks);
        let asked = match (self.target_depth, self.keep_blocks) {
            (Some(d), _) => format!("--target-depth {d}"),
            _ => format!("--keep-blocks {keep}"),
        };
        if keep > blocks {
            bail!(config:
                "{asked} is larger than {p}'s actor ({blocks} blocks, depth {depth}); choose fewer than {blocks} \
                 blocks (a depth below {depth})"
            );
        }
        if keep == blocks {
            bail!(config:
                "{asked}: {p}'s actor already has {blocks} blocks (depth {depth}), so there is nothing to prune; \
                 choose fewer blocks"
            );
        }
        if self.critic && keep > cfg.critic_depth / 4 {
            bail!(config:
                "{asked} --critic: the critic encoders have only {} blocks (critic depth {}), fewer than the {keep} \
                 to keep; prune the actor alone (drop --critic) or keep fewer blocks",
                cfg.critic_depth / 4,
                cfg.critic_depth
            );
        }
        Ok(Operation::Depth { keep_blocks: keep })
    }

    /// A short name for the operation, used for the default output directory.
    pub fn id(&self, op: Operation) -> String {
        let base = match op {
            Operation::Depth { keep_blocks } => format!("keep{keep_blocks}-{}", self.score.name()),
            Operation::Width { ratio, stream } => format!("w{ratio:.2}{}", if stream { "-stream" } else { "" }),
        };
        if self.critic {
            base + "-critic"
        } else {
            base
        }
    }

    /// `--out`, or `<model dir>/pruned/<id>` (the model's directory: `--model` itself when it is one).
    pub fn out_dir(&self, op: Operation) -> PathBuf {
        self.out.clone().unwrap_or_else(|| rundir::layout::pruned_dir(&self.model, &self.id(op)).dir)
    }
}

/// Units a layer of `width` keeps at `ratio`: round(ratio·width), at least 1.
pub fn kept_units(width: usize, ratio: f64) -> usize {
    ((ratio * width as f64).round() as usize).clamp(1, width)
}
