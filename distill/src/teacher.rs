//! The teacher: `--teacher` names a run directory (its `teacher.safetensors` and `config.toml`) or a
//! checkpoint file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use models::Model;
use train::config::TrainConfig;

/// A loaded teacher and what its run says about the environment it was trained on.
pub struct Teacher {
    pub model: Model,
    pub checkpoint: PathBuf,
    /// The run's configuration when `--teacher` named a run directory with a `config.toml`.
    pub run_config: Option<TrainConfig>,
}

impl Teacher {
    pub fn load(path: &Path) -> Result<Self> {
        let (checkpoint, config) = if path.is_dir() {
            let ckpt = path.join("teacher.safetensors");
            if !ckpt.is_file() {
                bail!(
                    "{}: no teacher.safetensors in this directory; pass a run directory written by \
                     `cargo run -p train` or a checkpoint file",
                    path.display()
                );
            }
            (ckpt, Some(path.join("config.toml")).filter(|c| c.is_file()))
        } else {
            (path.to_path_buf(), None)
        };
        let model = models::checkpoint::load(&checkpoint).with_context(|| "loading the teacher".to_string())?;
        if model.cfg.actor_depth == 0 {
            bail!("{}: this checkpoint has no actor to distill", checkpoint.display());
        }
        let run_config = match config {
            Some(c) => Some(TrainConfig::from_toml_file(&c).map_err(anyhow::Error::msg)?),
            None => None,
        };
        Ok(Teacher { model, checkpoint, run_config })
    }

    /// The episode length the teacher was trained with (1000 when the run is unknown).
    pub fn episode_length(&self) -> usize {
        self.run_config.as_ref().map(|c| c.episode_length).unwrap_or(1000)
    }
}
