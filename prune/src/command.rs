//! The `prune` command: flags (over `--config FILE.toml`) resolved into a [`PruneConfig`] and checked
//! before the model is read, the pipeline with a progress bar per healing run, and the summary line.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::error::{PruneError, Result};
use clap::{ArgMatches, CommandFactory, Parser};
use indicatif::{ProgressBar, ProgressStyle};
use rundir::config::{config_flag, resolve as resolve_layers};

use crate::config::PruneConfig;
use crate::run::{prune, Event, Pruned};

/// Structured depth and width pruning of a deep CRL teacher or student, with healing (DESIGN.md section 7).
#[derive(Parser, Debug)]
#[command(name = "prune", version, about, long_about = None)]
pub struct PruneCli {
    /// TOML file with any of the flags below as keys (`heal_steps = 500`); flags given here override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub cfg: PruneConfig,
}

/// Parses `args` (the program name first) and resolves them.
pub fn parse_from<I, T>(args: I) -> Result<PruneConfig>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    resolve(&PruneCli::command().try_get_matches_from(args)?)
}

/// Resolves parsed flags over `--config`, checked before any file but the config is read.
pub fn resolve(matches: &ArgMatches) -> Result<PruneConfig> {
    let cfg: PruneConfig = resolve_layers(matches, &config_flag(matches)?)?;
    cfg.validate()?;
    Ok(cfg)
}

/// The pipeline with a progress bar for each healing run (on a terminal) and a log line per stage.
pub fn run(cfg: &PruneConfig) -> Result<Pruned> {
    let terminal = std::io::stderr().is_terminal();
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} SGD steps, ETA {eta} {msg}")
        .map_err(|e| PruneError::Invalid(e.to_string()))?
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

/// The summary a person reads: sizes, success and latency before and after, and where the files are.
pub fn summary(p: &Pruned) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Score;

    #[test]
    fn flags_override_the_config_file_and_the_heal_curve_switch_reads_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.toml");
        std::fs::write(&file, "heal_steps = 500\nscore = \"drop-one\"\nheal_curve = false\n").unwrap();
        let f = file.to_str().unwrap();
        let cfg =
            parse_from(["prune", "--model", "m", "--target-depth", "8", "--config", f, "--heal-steps", "9"]).unwrap();
        let want = PruneConfig {
            model: "m".into(),
            target_depth: Some(8),
            heal_steps: 9,
            score: Score::DropOne,
            heal_curve: false,
            ..PruneConfig::default()
        };
        assert_eq!(cfg, want);
        let cfg = parse_from(["prune", "--model", "m", "--keep-blocks", "2"]).unwrap();
        assert!(cfg.heal_curve, "healed curve points by default");
        let cfg = parse_from(["prune", "--model", "m", "--keep-blocks", "2", "--no-heal-curve"]).unwrap();
        assert!(!cfg.heal_curve);
        let e = format!("{:#}", parse_from(["prune", "--model", "m"]).unwrap_err());
        assert!(e.contains("nothing to prune"), "{e}");
    }
}
