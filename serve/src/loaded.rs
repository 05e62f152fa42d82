//! Loading and validating the two models the server runs (DESIGN.md section 8): the planner (a deep
//! teacher: actor + critic, with the run's waypoint bank) and the controller (a student actor).
//!
//! A path may be a checkpoint file or a directory holding `teacher.safetensors` or
//! `student.safetensors` (a training run, a student or a pruned model). The planner's bank is the
//! first `bank.safetensors` along its checkpoint's lineage (`rundir::lineage`). Both
//! models must agree on the environment's state, goal and action sizes and goal indices; the planner
//! needs a critic. Each file is identified by the SHA-256 of its bytes, which keys the planning-graph
//! cache and is reported by `/v1/models`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::failure::{bail, Context, Result, ServeError};
use models::bank::WaypointBank;
use models::{Model, ModelConfig};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A model read from disk, with where it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub model: Model,
    pub checkpoint: PathBuf,
    /// Hex SHA-256 of the checkpoint file's bytes.
    pub sha256: String,
    /// Hex SHA-256 of the ONNX export beside it (`student.onnx` for `student.safetensors`), if any:
    /// what a robot running that export checks.
    pub onnx_sha256: Option<String>,
    pub loaded_at: SystemTime,
}

/// What `/v1/models` says about one model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelInfo {
    pub checkpoint: String,
    pub sha256: String,
    pub onnx_sha256: Option<String>,
    /// Seconds since the Unix epoch when it was loaded.
    pub loaded_at: f64,
    pub env: String,
    pub state_dim: usize,
    pub goal_dim: usize,
    pub action_dim: usize,
    pub actor_depth: usize,
    pub critic_depth: usize,
    pub width: usize,
    pub parameters: usize,
    pub training_step: u64,
    pub parent: Option<String>,
}

impl Loaded {
    pub fn info(&self) -> ModelInfo {
        let c = &self.model.cfg;
        ModelInfo {
            checkpoint: self.checkpoint.display().to_string(),
            sha256: self.sha256.clone(),
            onnx_sha256: self.onnx_sha256.clone(),
            loaded_at: self.loaded_at.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
            env: c.env.clone(),
            state_dim: c.state_dim,
            goal_dim: c.goal_dim,
            action_dim: c.action_dim,
            actor_depth: c.actor_depth,
            critic_depth: c.critic_depth,
            width: c.width,
            parameters: self.model.num_params(),
            training_step: c.training_step,
            parent: c.parent.clone(),
        }
    }
}

/// Hex SHA-256 of a file's bytes.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| ServeError::Read { path: path.to_path_buf(), source })?;
    Ok(hex(&Sha256::digest(&bytes)))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads and validates the checkpoint at (or in) `path`.
pub fn load_model(path: &Path) -> Result<Loaded> {
    let checkpoint = rundir::checkpoint_in(path)?;
    let sha256 = sha256_file(&checkpoint)?;
    let model = models::checkpoint::load(&checkpoint)?;
    let onnx = checkpoint.with_extension("onnx");
    let onnx_sha256 = if onnx.is_file() { Some(sha256_file(&onnx)?) } else { None };
    Ok(Loaded { model, checkpoint, sha256, onnx_sha256, loaded_at: SystemTime::now() })
}

/// The planner: a model with a critic, and its waypoint bank.
pub struct PlannerFiles {
    pub loaded: Loaded,
    pub bank: WaypointBank,
    pub bank_path: PathBuf,
    pub bank_sha256: String,
}

/// Loads the planner at `path` and its bank, checking that they belong together.
pub fn load_planner(path: &Path) -> Result<PlannerFiles> {
    let loaded = load_model(path).context("loading the planner")?;
    let cfg = &loaded.model.cfg;
    if cfg.critic_depth == 0 {
        bail!(
            "{}: the planner needs a critic (critic_depth is 0: an actor-only student); pass the teacher's run \
             directory as --planner",
            loaded.checkpoint.display()
        );
    }
    let bank_path = rundir::find_bank(&rundir::Lineage::of(&loaded.checkpoint, cfg))?;
    let bank = WaypointBank::load(&bank_path)?;
    if bank.is_empty() {
        bail!("{}: the waypoint bank is empty", bank_path.display());
    }
    if bank.state_dim != cfg.state_dim || bank.info.goal_indices != cfg.goal_indices {
        bail!(
            "{}: the bank's states ({} values, goal indices {:?}) do not match the planner ({} values, goal indices \
             {:?}); it belongs to another run",
            bank_path.display(),
            bank.state_dim,
            bank.info.goal_indices,
            cfg.state_dim,
            cfg.goal_indices
        );
    }
    let bank_sha256 = sha256_file(&bank_path)?;
    Ok(PlannerFiles { loaded, bank, bank_path, bank_sha256 })
}

/// Checks that the controller can act on the planner's waypoints.
pub fn check_pair(planner: &ModelConfig, controller: &ModelConfig) -> Result<()> {
    let (p, c) = (planner, controller);
    if envs::base_env_name(&p.env) != envs::base_env_name(&c.env) {
        bail!("the planner was trained on {} but the controller on {}", p.env, c.env);
    }
    if (p.state_dim, p.goal_dim, p.action_dim) != (c.state_dim, c.goal_dim, c.action_dim)
        || p.goal_indices != c.goal_indices
    {
        bail!(
            "the planner (state {}, goal {}, action {}, goal indices {:?}) and the controller (state {}, goal {}, action {}, \
             goal indices {:?}) disagree on the environment's sizes",
            p.state_dim,
            p.goal_dim,
            p.action_dim,
            p.goal_indices,
            c.state_dim,
            c.goal_dim,
            c.action_dim,
            c.goal_indices
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_must_agree_on_sizes_and_env() {
        let p = ModelConfig::point_maze(4).with_width(16);
        let mut c = p.clone();
        c.critic_depth = 0;
        c.env = "point_u_maze_eval".into();
        check_pair(&p, &c).unwrap();
        c.action_dim = 3;
        assert!(check_pair(&p, &c).unwrap_err().to_string().contains("disagree"));
        let mut c = p.clone();
        c.env = "reacher".into();
        assert!(check_pair(&p, &c).unwrap_err().to_string().contains("trained on"));
    }
}
