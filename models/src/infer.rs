//! Actor inference for serving: batch-1 and small-batch forward of the deterministic actor on plain
//! contiguous `f32`, with no autograd graph and no allocation once the scratch has grown.
//!
//! ```
//! use models::{Model, ModelConfig, infer::ActorInfer};
//! let model = Model::init(&ModelConfig::point_maze(8).with_width(32), 0).unwrap();
//! let mut actor = ActorInfer::new(&model);
//! let action = actor.act(&[0.0, 0.0, 0.0, 0.0], &[4.0, 4.0]).unwrap();
//! assert_eq!(action.len(), 2);
//! assert!(action.iter().all(|a| a.abs() <= 1.0));
//! ```

use crate::error::{ModelError, Result};
use crate::fast::half::HalfKind;
use crate::fast::heads::linear_forward;
use crate::fast::trunk::{forward_no_tape, InferScratch, LinearWeights, Threads};
use crate::layout::{ActorLayout, Model, TrunkLayout};
use crate::reference::{LOG_STD_MAX, LOG_STD_MIN};

/// How an [`ActorInfer`] stores its trunk's Linear weights. Half precision halves the bytes a
/// batch-1 forward streams; activations, norms, heads and all sums stay f32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightPrecision {
    #[default]
    F32,
    Bf16,
    F16,
}

impl WeightPrecision {
    pub const ALL: [WeightPrecision; 3] = [WeightPrecision::F32, WeightPrecision::Bf16, WeightPrecision::F16];

    pub fn name(self) -> &'static str {
        match self {
            WeightPrecision::F32 => "f32",
            WeightPrecision::Bf16 => "bf16",
            WeightPrecision::F16 => "f16",
        }
    }

    fn half(self) -> Option<HalfKind> {
        match self {
            WeightPrecision::F32 => None,
            WeightPrecision::Bf16 => Some(HalfKind::Bf16),
            WeightPrecision::F16 => Some(HalfKind::F16),
        }
    }
}

impl std::fmt::Display for WeightPrecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for WeightPrecision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown weight precision {s:?}: expected f32, bf16 or f16"))
    }
}

/// Rounds the trunk's Linear weights in `params` to `kind` and returns their half bits, at the same
/// offsets as the f32 parameters (the other entries are unused zeros). The rounded f32 values serve
/// batches too large for the half kernel, so every batch size uses the same weights.
fn round_trunk(kind: HalfKind, trunk: &TrunkLayout, params: &mut [f32]) -> Vec<u16> {
    let mut bits = vec![0u16; params.len()];
    for l in &trunk.layers {
        let r = l.linear.w..l.linear.w + l.linear.n_in * l.linear.n_out;
        bits[r.clone()].copy_from_slice(&kind.encode(&params[r.clone()]));
        for (p, &b) in params[r.clone()].iter_mut().zip(&bits[r]) {
            *p = kind.decode(b);
        }
    }
    bits
}

/// Checks that `data` holds `n` rows of `dim` finite values; the error names `what` was wrong.
pub(crate) fn check_rows(what: &str, data: &[f32], n: usize, dim: usize) -> Result<()> {
    if data.len() != n * dim {
        return Err(ModelError::Shape(format!("{what} has {} values, expected {n} × {dim}", data.len())));
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(ModelError::Shape(format!("{what}[{i}] is {} (must be finite)", data[i])));
    }
    Ok(())
}

/// A deterministic actor ready to answer requests; one per serving thread.
#[derive(Clone)]
pub struct ActorInfer {
    layout: ActorLayout,
    params: Vec<f32>,
    precision: WeightPrecision,
    half: Vec<u16>,
    state_dim: usize,
    goal_dim: usize,
    action_dim: usize,
    width: usize,
    obs: Vec<f32>,
    h: Vec<f32>,
    mean: Vec<f32>,
    log_std: Vec<f32>,
    action: Vec<f32>,
    scratch: InferScratch,
}

impl ActorInfer {
    /// Copies the actor's parameters out of `model` (the critic is not needed to act).
    pub fn new(model: &Model) -> Self {
        Self::with_precision(model, WeightPrecision::F32)
    }

    /// As [`ActorInfer::new`], with the trunk's Linear weights stored at `precision`.
    pub fn with_precision(model: &Model, precision: WeightPrecision) -> Self {
        let c = &model.cfg;
        // The actor's span starts at offset 0, so its slots index this copy unchanged.
        let mut params = model.params[model.layout.actor.range.clone()].to_vec();
        let half = match precision.half() {
            Some(kind) => round_trunk(kind, &model.layout.actor.trunk, &mut params),
            None => Vec::new(),
        };
        ActorInfer {
            layout: model.layout.actor.clone(),
            params,
            precision,
            half,
            state_dim: c.state_dim,
            goal_dim: c.goal_dim,
            action_dim: c.action_dim,
            width: c.width,
            obs: Vec::new(),
            h: Vec::new(),
            mean: Vec::new(),
            log_std: Vec::new(),
            action: Vec::new(),
            scratch: InferScratch::default(),
        }
    }

    /// Takes the actor's current parameters from `model` (same shape), e.g. after training updates.
    pub fn refresh(&mut self, model: &Model) -> Result<()> {
        let src = &model.params[model.layout.actor.range.clone()];
        if src.len() != self.params.len() || model.layout.actor != self.layout {
            return Err(ModelError::Shape("refresh: the model's actor has a different shape".into()));
        }
        self.params.copy_from_slice(src);
        if let Some(kind) = self.precision.half() {
            self.half = round_trunk(kind, &self.layout.trunk, &mut self.params);
        }
        Ok(())
    }

    pub fn precision(&self) -> WeightPrecision {
        self.precision
    }

    pub fn action_dim(&self) -> usize {
        self.action_dim
    }

    /// Deterministic action tanh(mean) for one state and goal.
    pub fn act(&mut self, state: &[f32], goal: &[f32]) -> Result<&[f32]> {
        self.act_batch(state, goal, 1)
    }

    /// Deterministic actions `[batch, action_dim]` for row-major states and goals.
    pub fn act_batch(&mut self, states: &[f32], goals: &[f32], batch: usize) -> Result<&[f32]> {
        self.forward(states, goals, batch)?;
        self.action.clear();
        self.action.extend(self.mean.iter().map(|m| m.tanh()));
        Ok(&self.action)
    }

    /// The Gaussian before the tanh: (mean, log_std), each `[batch, action_dim]`.
    pub fn distribution(&mut self, states: &[f32], goals: &[f32], batch: usize) -> Result<(&[f32], &[f32])> {
        self.forward(states, goals, batch)?;
        Ok((&self.mean, &self.log_std))
    }

    fn forward(&mut self, states: &[f32], goals: &[f32], batch: usize) -> Result<()> {
        let (sd, gd) = (self.state_dim, self.goal_dim);
        check_rows("state", states, batch, sd)?;
        check_rows("goal", goals, batch, gd)?;
        let mut obs = std::mem::take(&mut self.obs);
        obs.clear();
        for i in 0..batch {
            obs.extend_from_slice(&states[i * sd..(i + 1) * sd]);
            obs.extend_from_slice(&goals[i * gd..(i + 1) * gd]);
        }
        self.forward_rows(&obs, batch);
        self.obs = obs;
        Ok(())
    }

    /// As [`ActorInfer::act_batch`], for observations already laid out as `[state, goal]` rows
    /// (what a `GoalEnv` returns), without splitting and re-joining them.
    pub fn act_obs(&mut self, obs: &[f32], batch: usize) -> Result<&[f32]> {
        self.check_obs(obs, batch)?;
        self.forward_rows(obs, batch);
        self.action.clear();
        self.action.extend(self.mean.iter().map(|m| m.tanh()));
        Ok(&self.action)
    }

    /// As [`ActorInfer::distribution`], for `[state, goal]` rows.
    pub fn distribution_obs(&mut self, obs: &[f32], batch: usize) -> Result<(&[f32], &[f32])> {
        self.check_obs(obs, batch)?;
        self.forward_rows(obs, batch);
        Ok((&self.mean, &self.log_std))
    }

    fn check_obs(&self, obs: &[f32], batch: usize) -> Result<()> {
        check_rows("observation", obs, batch, self.state_dim + self.goal_dim)
    }

    /// The actor on validated `[state, goal]` rows: fills `mean` and `log_std`.
    fn forward_rows(&mut self, obs: &[f32], batch: usize) {
        self.h.resize(batch * self.width, 0.0);
        let weights = match self.precision.half() {
            Some(kind) => LinearWeights::Half(kind, &self.half),
            None => LinearWeights::Params,
        };
        let (trunk, params) = (&self.layout.trunk, &self.params);
        forward_no_tape(trunk, params, weights, obs, batch, &mut self.h, &mut self.scratch, Threads::ONE);
        let n = batch * self.action_dim;
        self.mean.resize(n, 0.0);
        self.log_std.resize(n, 0.0);
        linear_forward(&self.layout.mean, &self.params, &self.h, batch, &mut self.mean);
        linear_forward(&self.layout.log_std, &self.params, &self.h, batch, &mut self.log_std);
        let half = 0.5 * (LOG_STD_MAX - LOG_STD_MIN) as f32;
        for v in &mut self.log_std {
            *v = LOG_STD_MIN as f32 + half * (v.tanh() + 1.0);
        }
    }
}
