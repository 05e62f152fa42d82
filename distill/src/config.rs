//! `DistillConfig`: everything one distillation needs. The struct is also `distill`'s command line
//! (`clap::Args`): each field's doc comment is its flag's help and [`Default`] gives every default, so
//! neither exists twice; [`DistillCli`] adds where the files go and what else to run. Flags override
//! `--config FILE.toml`, which overrides the defaults (`rundir::config`).

use std::fmt;
use std::path::PathBuf;

use crate::error::{bail, Result};
use clap::{ArgMatches, CommandFactory, Parser, ValueEnum};
use rundir::config::{config_flag, resolve as resolve_layers};
use serde::{Deserialize, Serialize};

/// How the labelled states are collected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Student rollouts labelled by the teacher, β-mixed with the teacher's own actions early on.
    Dagger,
    /// Teacher rollouts only (behaviour cloning with teacher labels).
    Bc,
}

/// What the student's actor is fitted with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// KL(teacher ‖ student) between the pre-tanh Gaussians.
    Kl,
    /// Squared error of tanh(mean).
    Mse,
}

/// The flag value's name, as `--method` and `--loss` spell it.
fn flag_name(value: &impl ValueEnum, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(value.to_possible_value().as_ref().map_or("?", |v| v.get_name()))
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        flag_name(self, f)
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        flag_name(self, f)
    }
}

/// Everything a distillation run needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct DistillConfig {
    /// The teacher: a run directory written by `train` (runs/NAME), a student or pruned-model directory,
    /// or a checkpoint file.
    #[arg(long)]
    pub teacher: PathBuf,
    /// Linear layers in the student's residual blocks (a multiple of 4).
    #[arg(long, default_value_t = DistillConfig::default().student_depth)]
    pub student_depth: usize,
    /// Student width (default: the teacher's).
    #[arg(long)]
    pub student_width: Option<usize>,
    /// How the labelled states are collected.
    #[arg(long, value_enum, default_value_t = DistillConfig::default().method)]
    pub method: Method,
    /// What the student's actor is fitted with.
    #[arg(long, value_enum, default_value_t = DistillConfig::default().loss)]
    pub loss: Loss,
    /// Distil the critic too (φ/ψ MSE + in-batch logit KL), so the planner can use the student's critic.
    #[arg(long)]
    pub critic: bool,
    /// Environment for rollouts and evaluation (default: the teacher's).
    #[arg(long)]
    pub env: Option<String>,
    /// SGD steps. 10,000 is where the measured curves flatten: a depth-16 U-maze teacher needed 10k for
    /// full retention (3k kept 61%), a depth-64 one was fully retained from about 4k (docs/distill/).
    #[arg(long, default_value_t = DistillConfig::default().steps)]
    pub steps: usize,
    /// Labelled samples per SGD step.
    #[arg(long, default_value_t = DistillConfig::default().batch_size)]
    pub batch_size: usize,
    /// Environments stepped in parallel while collecting labels.
    #[arg(long, default_value_t = DistillConfig::default().num_envs)]
    pub num_envs: usize,
    /// Steps per environment in each collection round.
    #[arg(long, default_value_t = DistillConfig::default().unroll_length)]
    pub unroll_length: usize,
    /// SGD steps after each collection round.
    #[arg(long, default_value_t = DistillConfig::default().sgd_steps_per_round)]
    pub sgd_steps_per_round: usize,
    /// β of the first DAgger round (the probability that the teacher acts); multiplied by --beta-decay
    /// every round.
    #[arg(long, default_value_t = DistillConfig::default().beta0)]
    pub beta0: f64,
    /// Per-round decay of β.
    #[arg(long, default_value_t = DistillConfig::default().beta_decay)]
    pub beta_decay: f64,
    /// Learning rate (Adam).
    #[arg(long, default_value_t = DistillConfig::default().lr)]
    pub lr: f64,
    /// Evaluation episodes for teacher and student each (the report's numbers).
    #[arg(long, default_value_t = DistillConfig::default().eval_episodes)]
    pub eval_episodes: usize,
    /// Closed-loop episodes of the student at each point of the distillation curve (0: skip).
    #[arg(long, default_value_t = DistillConfig::default().curve_eval_episodes)]
    pub curve_eval_episodes: usize,
    /// Seed of everything random in the run.
    #[arg(long, default_value_t = DistillConfig::default().seed)]
    pub seed: u64,
}

impl Default for DistillConfig {
    fn default() -> Self {
        DistillConfig {
            teacher: PathBuf::new(),
            student_depth: 8,
            student_width: None,
            method: Method::Dagger,
            loss: Loss::Kl,
            critic: false,
            env: None,
            steps: 10000,
            batch_size: 256,
            num_envs: 64,
            unroll_length: 16,
            sgd_steps_per_round: 32,
            beta0: 1.0,
            beta_decay: 0.8,
            lr: 1e-3,
            eval_episodes: 128,
            curve_eval_episodes: 32,
            seed: 0,
        }
    }
}

impl DistillConfig {
    /// The checks that need no file: every value in range.
    pub fn validate(&self) -> Result<()> {
        if self.student_depth == 0 || !self.student_depth.is_multiple_of(4) {
            bail!(config: "--student-depth {}: must be a positive multiple of 4 (4, 8, 16, ...)", self.student_depth);
        }
        let positive = [
            ("steps", self.steps),
            ("batch_size", self.batch_size),
            ("num_envs", self.num_envs),
            ("unroll_length", self.unroll_length),
            ("sgd_steps_per_round", self.sgd_steps_per_round),
            ("eval_episodes", self.eval_episodes),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            bail!(config: "{name} must be positive");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            bail!(config: "lr = {} must be a positive number", self.lr);
        }
        if self.student_width == Some(0) {
            bail!(config: "--student-width must be positive");
        }
        if !(0.0..=1.0).contains(&self.beta0) || !(0.0..=1.0).contains(&self.beta_decay) {
            bail!(config: "--beta0 {} and --beta-decay {} must be in [0, 1]", self.beta0, self.beta_decay);
        }
        Ok(())
    }

    /// The student's directory name under `<run>/students/`.
    pub fn student_id(&self) -> String {
        format!("d{}-{}", self.student_depth, self.method)
    }
}

/// Distil a deep CRL teacher into a shallow student actor (DESIGN.md section 6).
#[derive(Parser, Debug)]
#[command(name = "distill", version, about, long_about = None)]
pub struct DistillCli {
    /// TOML file with any of the configuration flags as keys (`steps = 4000`); flags given here
    /// override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Also distil with bc (teacher rollouts only) at the same budget, and compare the two methods at
    /// equal labelled samples in the report (doubles the distillation time).
    #[arg(long)]
    pub compare_bc: bool,
    /// Skip the baseline: the student's size trained from scratch by `train` with the teacher's recipe
    /// and budget (it costs about as long as training a teacher of that size).
    #[arg(long)]
    pub no_baseline: bool,
    /// Output directory (default: <teacher run>/students/d<depth>-<method>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub cfg: DistillConfig,
}

/// What `distill` was asked to do, resolved and validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    pub cfg: DistillConfig,
    pub compare_bc: bool,
    pub no_baseline: bool,
    pub out: Option<PathBuf>,
}

/// Parses `args` (the program name first) and resolves them.
pub fn parse_from<I, T>(args: I) -> Result<Invocation>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    resolve(&DistillCli::command().try_get_matches_from(args)?)
}

/// Resolves parsed flags (over `--config`), checked before any file is read or written.
pub fn resolve(matches: &ArgMatches) -> Result<Invocation> {
    let cfg: DistillConfig = resolve_layers(matches, &config_flag(matches)?)?;
    cfg.validate()?;
    let compare_bc = matches.get_flag("compare_bc");
    if compare_bc && cfg.method == Method::Bc {
        bail!(config: "--compare-bc compares DAgger with bc; drop it or use --method dagger");
    }
    Ok(Invocation {
        cfg,
        compare_bc,
        no_baseline: matches.get_flag("no_baseline"),
        out: matches.get_one::<PathBuf>("out").cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_config_file_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("d.toml");
        std::fs::write(&file, "steps = 4000\nloss = \"mse\"\nbeta0 = 0.5\n").unwrap();
        let f = file.to_str().unwrap();
        let inv = parse_from(["distill", "--teacher", "runs/x", "--config", f, "--steps", "7"]).unwrap();
        let want = DistillConfig {
            teacher: "runs/x".into(),
            steps: 7,
            loss: Loss::Mse,
            beta0: 0.5,
            ..DistillConfig::default()
        };
        assert_eq!(inv.cfg, want);
        let inv = parse_from(["distill", "--teacher", "t"]).unwrap();
        assert_eq!(inv.cfg, DistillConfig { teacher: "t".into(), ..DistillConfig::default() });
        assert_eq!(inv.cfg.student_id(), "d8-dagger");
        assert_eq!(format!("{} {} {}", Method::Bc, Loss::Kl, Loss::Mse), "bc kl mse", "as the flags spell them");
    }

    #[test]
    fn bad_flags_are_refused_before_any_file_is_read() {
        for (args, want) in [
            (vec!["--student-depth", "6"], "multiple of 4"),
            (vec!["--method", "magic"], "dagger"),
            (vec!["--method", "bc", "--compare-bc"], "--compare-bc"),
            (vec!["--lr", "0"], "lr"),
            (vec!["--beta0", "2"], "beta0"),
        ] {
            let e = format!(
                "{:#}",
                parse_from(["distill", "--teacher", "/nonexistent"].into_iter().chain(args)).unwrap_err()
            );
            assert!(e.contains(want), "{want}: {e}");
        }
        let e = format!("{:#}", parse_from(["distill"]).unwrap_err());
        assert!(e.contains("--teacher"), "{e}");
        let help = DistillCli::command().render_long_help().to_string();
        for flag in ["--batch-size", "--beta0", "--beta-decay", "--num-envs", "[default: 10000]"] {
            assert!(help.contains(flag), "{flag} missing from --help");
        }
    }
}
