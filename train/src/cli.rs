//! The `train` command line: [`TrainConfig`]'s flags plus where the run goes, resolved by one rule
//! (`rundir::config`): flags > `--config FILE.toml` > the resumed run's `config.toml` > defaults.

use std::path::PathBuf;

use crate::error::Result;
use clap::{ArgMatches, CommandFactory, Parser};
use rundir::config::{config_flag, given, resolve as resolve_layers, Layer};
use rundir::RunDir;

use crate::config::TrainConfig;

/// Train a goal-conditioned Contrastive RL teacher (DESIGN.md section 3).
#[derive(Parser, Debug)]
#[command(name = "train", version, about, long_about = None)]
pub struct TrainCli {
    /// TOML file with any of the flags below as keys (`total_env_steps = 400000`); flags given here
    /// override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run directory (default: runs/<env>-d<depth>-<unix time>). A directory that already holds a run
    /// is refused unless --resume is given.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint. Its config.toml is the base configuration;
    /// --config and flags given here still override it (e.g. a larger --total-env-steps).
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Data-parallel training over several processes. `mpi`: launched as `mpirun -np N train
    /// --distributed mpi ...` (or `srun` under Slurm) from a build with `--features mpi`
    /// (scripts/mpi.sh installs OpenMPI). Every rank runs --num-envs environments and samples
    /// --batch-size rows; the update is exactly one process's with the job's whole batch (ranks ×
    /// --batch-size). --total-env-steps and --prefill-env-steps count the whole job and each rank's
    /// replay; rank 0 alone writes the run directory and prints. The fused CPU path only, so far.
    #[arg(long, value_enum, default_value_t = Distributed::None)]
    pub distributed: Distributed,
    /// With --distributed: seconds one rank waits for the others in one exchange (or to join the
    /// job) before it ends the whole job. Rank 0's evaluations run while the others wait, so keep it
    /// above the longest evaluation.
    #[arg(long, default_value_t = 1800.0, value_parser = positive_seconds)]
    pub rank_timeout: f64,
    #[command(flatten)]
    pub cfg: TrainConfig,
}

/// How the processes of one training job work together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Distributed {
    /// One process.
    None,
    /// Ranks of an MPI job, one update over all their batches.
    Mpi,
}

fn positive_seconds(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

/// What `train` was asked to do, resolved and validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    pub cfg: TrainConfig,
    pub out: PathBuf,
    pub resume: bool,
    pub distributed: Distributed,
    pub rank_timeout: f64,
}

/// Parses `args` (the program name first) and resolves them; clap's own errors (`--help` included)
/// come back as [`TrainError::Cli`](crate::error::TrainError::Cli).
pub fn parse_from<I, T>(args: I) -> Result<Invocation>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    resolve(&TrainCli::command().try_get_matches_from(args)?)
}

/// Resolves parsed flags into the run's configuration, checked before any file is written.
pub fn resolve(matches: &ArgMatches) -> Result<Invocation> {
    let out: Option<PathBuf> = matches.get_one::<PathBuf>("out").cloned();
    let resume = matches.get_flag("resume");
    let mut layers = Vec::new();
    if let (true, Some(dir)) = (resume, &out) {
        let resumed = RunDir::new(dir).config();
        // A missing config.toml is reported by `train` itself, with what to do.
        if resumed.is_file() {
            layers.push(Layer::read(&resumed)?);
        }
    }
    layers.extend(config_flag(matches)?);
    let cfg: TrainConfig = resolve_layers(matches, &layers)?;
    cfg.validate()?;
    let mut cfg = cfg;
    // Recorded absolute, so --resume, distill, prune and serve find the file from any folder.
    if let Some(path) = &cfg.layout {
        let abs = std::fs::canonicalize(path).map_err(|e| {
            crate::error::TrainError::Config(format!(
                "--layout {}: {e}; pass the path of a maze layout file",
                path.display()
            ))
        })?;
        cfg.layout = Some(abs);
    }
    if let Some(path) = envs::task_file_of(&cfg.env) {
        let abs = std::fs::canonicalize(path).map_err(|e| {
            crate::error::TrainError::Config(format!(
                "--env {}: {e}; pass mjcf:PATH with the path of a robot task file (README \"Your robot\")",
                cfg.env
            ))
        })?;
        cfg.env = format!("{}{}", envs::registry::TASK_FILE_PREFIX, abs.display());
    }
    // A task file's or a Gymnasium id's own episode length is the default: below every layer and
    // flag that sets one.
    let set = given(matches, "episode_length") || layers.iter().any(|l| l.table.contains_key("episode_length"));
    if !set {
        if let Some(n) = envs::env_episode_length(&cfg.env)? {
            cfg.episode_length = n;
        }
    }
    let out = out.unwrap_or_else(|| cfg.default_run_dir());
    let distributed = matches.get_one::<Distributed>("distributed").copied().unwrap_or(Distributed::None);
    let rank_timeout = matches.get_one::<f64>("rank_timeout").copied().unwrap_or(1800.0);
    Ok(Invocation { cfg, out, resume, distributed, rank_timeout })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Backend, ResidualInit};

    #[test]
    fn every_field_is_a_flag_with_its_default_in_the_help() {
        let help = TrainCli::command().render_long_help().to_string();
        for flag in ["--gamma", "--replay-steps", "--prefill-env-steps", "--target-entropy", "--backend"] {
            assert!(help.contains(flag), "{flag} missing from --help");
        }
        assert!(help.contains("[default: 0.99]") && help.contains("[default: 12800]"), "{help}");
        let inv = parse_from(["train", "--out", "x"]).unwrap();
        assert_eq!(inv.cfg, TrainConfig::default(), "clap's defaults are TrainConfig::default()");
    }

    #[test]
    fn a_resumed_run_is_the_base_and_config_and_flags_override_it() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        let resumed = TrainConfig { depth: 16, gamma: 0.9, total_env_steps: 1000, ..TrainConfig::default() };
        std::fs::write(RunDir::new(&run).config(), resumed.to_toml().unwrap()).unwrap();
        let file = dir.path().join("more.toml");
        std::fs::write(&file, "total_env_steps = 5000\nbackend = \"candle\"\n").unwrap();
        let out = run.to_str().unwrap();

        let inv = parse_from(["train", "--out", out, "--resume"]).unwrap();
        assert_eq!((inv.cfg, inv.resume), (resumed.clone(), true));
        let inv = parse_from(["train", "--out", out, "--resume", "--config", file.to_str().unwrap()]).unwrap();
        assert_eq!(inv.cfg, TrainConfig { total_env_steps: 5000, backend: Backend::Candle, ..resumed.clone() });
        let args = ["train", "--out", out, "--resume", "--config", file.to_str().unwrap(), "--total-env-steps", "7"];
        let inv = parse_from(args).unwrap();
        assert_eq!(inv.cfg.total_env_steps, 7);
        assert_eq!(inv.cfg.depth, 16);
        let inv = parse_from(["train", "--out", out]).unwrap();
        assert_eq!(inv.cfg, TrainConfig::default(), "without --resume the run's config.toml is not read");
    }

    #[test]
    fn the_deep_actor_options_parse_and_older_configs_read_as_before() {
        let inv =
            parse_from(["train", "--out", "x", "--residual-init", "inv-sqrt-blocks", "--lr-warmup", "500"]).unwrap();
        assert_eq!((inv.cfg.residual_init, inv.cfg.lr_warmup), (ResidualInit::InvSqrtBlocks, 500));
        let toml = inv.cfg.to_toml().unwrap();
        assert!(toml.contains("residual_init = \"inv-sqrt-blocks\"") && toml.contains("lr_warmup = 500"), "{toml}");
        // A config.toml written before these options existed has neither key.
        let old: String = toml
            .lines()
            .filter(|l| !l.starts_with("residual_init") && !l.starts_with("lr_warmup"))
            .collect::<Vec<_>>()
            .join("\n");
        let read: TrainConfig = toml::from_str(&old).unwrap();
        assert_eq!((read.residual_init, read.lr_warmup), (ResidualInit::Standard, 0));
        let e = format!("{:#}", parse_from(["train", "--out", "x", "--residual-init", "half"]).unwrap_err());
        assert!(e.contains("zero") && e.contains("inv-sqrt-blocks"), "{e}");
    }

    #[test]
    fn bad_values_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("never");
        let o = out.to_str().unwrap();
        let e = format!("{:#}", parse_from(["train", "--out", o, "--depth", "6"]).unwrap_err());
        assert!(e.contains("multiple of 4"), "{e}");
        let e = format!("{:#}", parse_from(["train", "--out", o, "--backend", "gpu"]).unwrap_err());
        assert!(e.contains("auto") && e.contains("candle"), "{e}");
        let e = format!("{:#}", parse_from(["train", "--resume"]).unwrap_err());
        assert!(e.contains("--out"), "{e}");
        assert!(!out.exists());
    }
}
