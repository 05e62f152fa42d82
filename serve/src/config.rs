//! `ServeConfig`: everything the server is started with (DESIGN.md section 8), one struct that the CLI
//! (`main.rs`, clap) and tests fill, serde-(de)serialisable so it can be logged and written out.
//!
//! ```
//! let mut cfg = serve::config::ServeConfig::new("runs/teacher", "runs/teacher/students/s8");
//! cfg.plan_hz = 4.0;
//! cfg.validate().unwrap();
//! cfg.plan_hz = 0.0;
//! assert!(cfg.validate().is_err());
//! ```

use std::path::PathBuf;
use std::time::Duration;

use models::infer::WeightPrecision;
use serde::{Deserialize, Serialize};

/// The environment variable read for the API key when `--api-key` is not given.
pub const API_KEY_ENV: &str = "DEEPCRL_API_KEY";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServeConfig {
    /// The planner: a training run directory (`teacher.safetensors` + `bank.safetensors`) or a checkpoint.
    pub planner: PathBuf,
    /// The controller: a student directory (`student.safetensors`), a run directory or a checkpoint.
    pub controller: PathBuf,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub addr: String,
    /// Default plan refreshes per second for each session (a session may ask for its own).
    pub plan_hz: f64,
    /// Most waypoints in a plan, the commanded goal included.
    pub horizon: usize,
    pub max_sessions: usize,
    /// Seconds a session may stay idle before it is dropped.
    pub session_ttl_s: f64,
    /// A plan older than this is not used: the controller falls back to the commanded goal and says so.
    pub max_plan_age_ms: u64,
    /// Bearer token required on every `/v1` route when set. Never serialised.
    #[serde(skip)]
    pub api_key: Option<String>,
    /// Most rows in one controller forward pass.
    pub max_batch: usize,
    /// How long the controller waits for more requests after the first one of a batch.
    pub batch_wait_us: u64,
    /// Requests of at most this many rows are answered on their own thread when nothing is queued
    /// (no hand-off to the batcher thread); 0 sends every request through the batcher.
    #[serde(default = "default_inline_max_rows")]
    pub inline_max_rows: usize,
    /// Requests waiting for the controller before new ones are refused with 429.
    pub queue_capacity: usize,
    /// Largest request body in bytes (larger → 413).
    pub body_limit: usize,
    /// Distance in goal space under which the active waypoint counts as reached and the next one is
    /// used; `None`: [`ADVANCE_RADIUS_PER_THRESHOLD`] times the environment's success threshold.
    #[serde(default)]
    pub advance_radius: Option<f32>,
    /// Planning graph edges longer than this critic distance are dropped; `None`: use `edge_quantile`.
    pub edge_cutoff: Option<f32>,
    /// Without `edge_cutoff`: keep the shortest this-fraction of node-to-node edges.
    pub edge_quantile: f32,
    /// Most sessions planned in one batched planner forward pass.
    pub planner_batch: usize,
    /// How both actors store their trunk weights (bf16/f16: about half the batch-1 latency of a deep
    /// actor, actions within 1e-2 of f32).
    #[serde(default)]
    pub weight_precision: WeightPrecision,
}

/// The default advance radius in units of the environment's success threshold. A waypoint is a bank
/// state, often beside a wall, where the student need not settle as precisely as at the goal: with
/// 2× (1.0 on the point mazes) the robot hovered short of some waypoints, 4× (2.0) matched the
/// controller's time at goal on the U-maze and gave the best big-maze success of 1×–6× (docs/serve).
pub const ADVANCE_RADIUS_PER_THRESHOLD: f32 = 4.0;

fn default_inline_max_rows() -> usize {
    8
}

impl ServeConfig {
    /// The defaults for a planner and a controller path.
    pub fn new(planner: impl Into<PathBuf>, controller: impl Into<PathBuf>) -> Self {
        ServeConfig {
            planner: planner.into(),
            controller: controller.into(),
            addr: "127.0.0.1:8080".into(),
            plan_hz: 2.0,
            horizon: 8,
            max_sessions: 256,
            session_ttl_s: 60.0,
            max_plan_age_ms: 2000,
            api_key: None,
            max_batch: 64,
            batch_wait_us: 25,
            inline_max_rows: default_inline_max_rows(),
            queue_capacity: 4096,
            body_limit: 64 * 1024,
            advance_radius: None,
            edge_cutoff: None,
            edge_quantile: 0.2,
            planner_batch: 16,
            weight_precision: WeightPrecision::F32,
        }
    }

    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs_f64(self.session_ttl_s)
    }

    pub fn max_plan_age(&self) -> Duration {
        Duration::from_millis(self.max_plan_age_ms)
    }

    /// Checks every value; the message names the flag to change.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("--{name} must be a positive number (got {v})"))
            }
        };
        positive("plan-hz", self.plan_hz)?;
        positive("session-ttl", self.session_ttl_s)?;
        if let Some(r) = self.advance_radius {
            positive("advance-radius", r as f64)?;
        }
        if let Some(c) = self.edge_cutoff {
            positive("edge-cutoff", c as f64)?;
        }
        if !(self.edge_quantile > 0.0 && self.edge_quantile <= 1.0) {
            return Err(format!("--edge-quantile must be in (0, 1] (got {})", self.edge_quantile));
        }
        for (name, v) in [
            ("horizon", self.horizon),
            ("max-sessions", self.max_sessions),
            ("max-batch", self.max_batch),
            ("queue-capacity", self.queue_capacity),
            ("body-limit", self.body_limit),
            ("planner-batch", self.planner_batch),
        ] {
            if v == 0 {
                return Err(format!("--{name} must be at least 1"));
            }
        }
        if self.max_plan_age_ms == 0 {
            return Err("--max-plan-age-ms must be at least 1".into());
        }
        if self.api_key.as_deref().is_some_and(str::is_empty) {
            return Err(format!("--api-key (or {API_KEY_ENV}) must not be empty"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_name_their_flag() {
        let cfg = ServeConfig::new("a", "b");
        cfg.validate().unwrap();
        let mut c = cfg.clone();
        c.horizon = 0;
        assert!(c.validate().unwrap_err().contains("--horizon"));
        let mut c = cfg.clone();
        c.edge_quantile = 1.5;
        assert!(c.validate().unwrap_err().contains("--edge-quantile"));
        let mut c = cfg;
        c.api_key = Some(String::new());
        assert!(c.validate().unwrap_err().contains("DEEPCRL_API_KEY"));
    }

    #[test]
    fn the_api_key_is_never_serialised() {
        let mut cfg = ServeConfig::new("a", "b");
        cfg.api_key = Some("secret".into());
        let json = serde_json::to_string(&cfg).unwrap();
        assert!(!json.contains("secret"), "{json}");
    }
}
