//! The teacher: `--teacher` names a run directory written by `train` (its `teacher.safetensors` and
//! `config.toml`), a student or pruned-model directory (its `student.safetensors`), or a checkpoint file.
//! The training run's configuration (episode length, recipe for the baseline) is the `config.toml` found
//! along the checkpoint's lineage (`rundir::lineage`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{bail, Context, Result};
use envs::eval::EvalReport;
use models::Model;
use train::config::TrainConfig;

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

impl Teacher {
    pub fn load(path: &Path) -> Result<Self> {
        let checkpoint = rundir::checkpoint_in(path)?;
        let model = models::checkpoint::load(&checkpoint).with_context(|| "loading the teacher".to_string())?;
        if model.cfg.actor_depth == 0 {
            bail!("{}: this checkpoint has no actor to distill", checkpoint.display());
        }
        let (run_dir, run_config) = TrainConfig::of_checkpoint(&checkpoint, &model.cfg)?.unzip();
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
        let report = crate::baseline::evaluate_policy(&self.model, env, &self.env_options(), episodes, seed)?;
        self.evaluations.lock().unwrap_or_else(|e| e.into_inner()).push((key, report.clone()));
        Ok(report)
    }

    /// The episode length the teacher was trained with (1000 when the run is unknown).
    pub fn episode_length(&self) -> usize {
        self.run_config.as_ref().map(|c| c.episode_length).unwrap_or(1000)
    }

    /// The environments' options for evaluating and distilling: the teacher's episode length and
    /// maze layout file, fixed starts.
    pub fn env_options(&self) -> envs::EnvOptions {
        match &self.run_config {
            Some(c) => c.eval_env_options(),
            None => envs::EnvOptions { episode_length: Some(self.episode_length()), ..envs::EnvOptions::default() },
        }
    }
}
