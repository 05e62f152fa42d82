//! The teacher: `--teacher` names a run directory written by `train` (its `teacher.safetensors` and
//! `config.toml`), a student or pruned-model directory (its `student.safetensors`), or a checkpoint file.
//! The training run's configuration (episode length, recipe for the baseline) is found by following the
//! checkpoint's `parent` chain back to the run directory that holds a `config.toml`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use envs::eval::EvalReport;
use models::Model;
use train::config::TrainConfig;

/// The checkpoint names a model directory may hold, in the order they are looked for.
pub const CHECKPOINT_NAMES: [&str; 2] = ["teacher.safetensors", "student.safetensors"];

/// An evaluation's settings: environment, episodes, seed.
type EvalKey = (String, usize, u64);

/// A loaded teacher and what its run says about the environment it was trained on.
pub struct Teacher {
    pub model: Model,
    pub checkpoint: PathBuf,
    /// The training run's configuration, when a `config.toml` was found beside the checkpoint or
    /// beside one of its parents.
    pub run_config: Option<TrainConfig>,
    /// The directory of that `config.toml` (the training run).
    pub run_dir: Option<PathBuf>,
    /// Closed-loop evaluations already run, by (env, episodes, seed): a comparison run or each healing
    /// point of `prune` asks for the same one again, and the teacher is the costliest policy to roll out.
    evaluations: Mutex<Vec<(EvalKey, EvalReport)>>,
}

/// The checkpoint a `--teacher`/`--model` path names: the file itself, or the model file in a directory.
pub fn checkpoint_in(path: &Path) -> Result<PathBuf> {
    if !path.exists() {
        bail!("{}: does not exist; pass a run directory written by `train` (runs/NAME)", path.display());
    }
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    CHECKPOINT_NAMES.iter().map(|n| path.join(n)).find(|p| p.is_file()).with_context(|| {
        format!(
            "{}: no teacher.safetensors or student.safetensors in this directory; pass a run directory written \
             by `cargo run -p train`, a student directory, or a checkpoint file",
            path.display()
        )
    })
}

/// The training run behind `checkpoint`: the first directory holding a `config.toml`, starting beside the
/// checkpoint and following the `parent` recorded in each checkpoint's metadata (at most 8 generations).
fn find_run(checkpoint: &Path, model: &Model) -> Option<PathBuf> {
    let run_of = |file: &Path| file.parent().filter(|d| d.join("config.toml").is_file()).map(Path::to_path_buf);
    if let Some(dir) = run_of(checkpoint) {
        return Some(dir);
    }
    let mut parent = model.cfg.parent.clone();
    for _ in 0..8 {
        let file = PathBuf::from(parent.take()?);
        if let Some(dir) = run_of(&file) {
            return Some(dir);
        }
        // Only a parent away from its run is opened, to read its own parent.
        parent = models::checkpoint::load(&file).ok().and_then(|m| m.cfg.parent);
    }
    None
}

impl Teacher {
    pub fn load(path: &Path) -> Result<Self> {
        let checkpoint = checkpoint_in(path)?;
        let model = models::checkpoint::load(&checkpoint).with_context(|| "loading the teacher".to_string())?;
        if model.cfg.actor_depth == 0 {
            bail!("{}: this checkpoint has no actor to distill", checkpoint.display());
        }
        let run_dir = find_run(&checkpoint, &model);
        let run_config = match &run_dir {
            Some(d) => Some(TrainConfig::from_toml_file(&d.join("config.toml")).map_err(anyhow::Error::msg)?),
            None => None,
        };
        Ok(Teacher { model, checkpoint, run_config, run_dir, evaluations: Mutex::new(Vec::new()) })
    }

    /// The teacher's closed-loop evaluation as [`crate::baseline::evaluate_policy`] runs it (its own
    /// episode length), computed once per (env, episodes, seed).
    pub fn evaluate(&self, env: &str, episodes: usize, seed: u64) -> Result<EvalReport> {
        let key: EvalKey = (env.to_string(), episodes, seed);
        let cached = |memo: &Vec<(EvalKey, EvalReport)>| memo.iter().find(|(k, _)| *k == key).map(|(_, r)| r.clone());
        if let Some(r) = cached(&self.evaluations.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(r);
        }
        let report = crate::baseline::evaluate_policy(&self.model, env, self.episode_length(), episodes, seed)?;
        self.evaluations.lock().unwrap_or_else(|e| e.into_inner()).push((key, report.clone()));
        Ok(report)
    }

    /// The episode length the teacher was trained with (1000 when the run is unknown).
    pub fn episode_length(&self) -> usize {
        self.run_config.as_ref().map(|c| c.episode_length).unwrap_or(1000)
    }
}
