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
use crate::fast::head_norm;
use crate::fast::heads::linear_forward;
use crate::fast::matmul::SMALL_BATCH;
use crate::fast::packed::PackedTrunk;
use crate::fast::trunk::{forward_no_tape, InferScratch, LinearWeights, Threads};
use crate::layout::{ActorLayout, Model, TrunkLayout};
use crate::numerics::{LOG_STD_MAX, LOG_STD_MIN};

/// How an [`ActorInfer`] stores its trunk's Linear weights for small batches. Half precision halves
/// the bytes a batch-1 forward streams; activations, norms, heads and all sums stay f32. It is fast
/// only where a vector kernel widens the halves ([`WeightPrecision::check_here`]).
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

    /// Whether these weights are faster than f32 on this CPU, with the reason when they are not
    /// ([`WeightPrecision::check_on`] at the level the kernels run at here).
    pub fn check_here(self) -> std::result::Result<(), String> {
        self.check_on(crate::fast::isa::active())
    }

    /// f32 always runs; half precision needs a vector kernel to widen the halves (AVX2 with F16C,
    /// or AVX-512). Without one each weight is widened in scalar code, and a forward was measured
    /// 4–19× slower than f32 (depths 8 and 64, docs/performance.md), so it is refused.
    pub fn check_on(self, isa: crate::fast::isa::Isa) -> std::result::Result<(), String> {
        if self == WeightPrecision::F32 || isa >= crate::fast::isa::Isa::Avx2 {
            return Ok(());
        }
        Err(format!(
            "{self} weights need AVX2 (with F16C) or AVX-512 to be widened in vector registers, and this CPU's \
             kernels run at the {isa} level, where {self} is several times slower than f32, not faster; use f32"
        ))
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

/// Rounds the trunk's Linear weights in `params` to `kind`, so that batches too large for the packed
/// kernel (which use the f32 parameters) see the same weights as small ones.
fn round_trunk(kind: HalfKind, trunk: &TrunkLayout, params: &mut [f32]) {
    for l in &trunk.layers {
        let w = &mut params[l.linear.w..l.linear.w + l.linear.n_in * l.linear.n_out];
        let bits = kind.encode(w);
        for (p, b) in w.iter_mut().zip(bits) {
            *p = kind.decode(b);
        }
    }
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
    /// The trunk's Linear weights packed for batches up to `SMALL_BATCH`, at `precision`. Built with
    /// the actor (serving answers its first request without packing), dropped by `refresh` and built
    /// again only when a small batch comes: training refreshes every round and acts on whole batches
    /// of environments, which never read it.
    packed: Option<PackedTrunk>,
    state_dim: usize,
    goal_dim: usize,
    action_dim: usize,
    width: usize,
    obs: Vec<f32>,
    h: Vec<f32>,
    /// n̂ of `h` and its r, for a model with a norm before the heads.
    heads_in: Vec<f32>,
    heads_rstd: Vec<f32>,
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
        let trunk = &model.layout.actor.trunk;
        if let Some(kind) = precision.half() {
            round_trunk(kind, trunk, &mut params);
        }
        let packed = Some(PackedTrunk::new(trunk, &params, precision.half()));
        ActorInfer {
            layout: model.layout.actor.clone(),
            params,
            precision,
            packed,
            state_dim: c.state_dim,
            goal_dim: c.goal_dim,
            action_dim: c.action_dim,
            width: c.width,
            obs: Vec::new(),
            h: Vec::new(),
            heads_in: Vec::new(),
            heads_rstd: Vec::new(),
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
            round_trunk(kind, &self.layout.trunk, &mut self.params);
        }
        self.packed = None;
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
        if batch <= SMALL_BATCH && self.packed.is_none() {
            self.packed = Some(PackedTrunk::new(&self.layout.trunk, &self.params, self.precision.half()));
        }
        let weights = self.packed.as_ref().map_or(LinearWeights::Params, LinearWeights::Packed);
        let (trunk, params) = (&self.layout.trunk, &self.params);
        forward_no_tape(trunk, params, weights, obs, batch, &mut self.h, &mut self.scratch, Threads::ONE);
        let n = batch * self.action_dim;
        self.mean.resize(n, 0.0);
        self.log_std.resize(n, 0.0);
        let (on, w) = (self.layout.head_norm, self.width);
        let h = head_norm::heads_input(on, &self.h, w, &mut self.heads_in, &mut self.heads_rstd);
        linear_forward(&self.layout.mean, &self.params, h, batch, &mut self.mean);
        linear_forward(&self.layout.log_std, &self.params, h, batch, &mut self.log_std);
        let half = 0.5 * (LOG_STD_MAX - LOG_STD_MIN) as f32;
        for v in &mut self.log_std {
            *v = LOG_STD_MIN as f32 + half * (v.tanh() + 1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::isa::Isa;

    /// A refreshed actor acts with the new weights at every batch size and precision, exactly as
    /// one built from the new model does (its packed copy is rebuilt on the next small batch).
    #[test]
    fn a_refreshed_actor_acts_as_a_fresh_one() {
        let cfg = crate::ModelConfig::point_maze(8).with_width(32);
        let (old, new) = (Model::init(&cfg, 1).unwrap(), Model::init(&cfg, 2).unwrap());
        let obs: Vec<f32> = (0..16 * 6).map(|i| (i as f32 * 0.37).sin()).collect();
        for precision in WeightPrecision::ALL {
            let mut actor = ActorInfer::with_precision(&old, precision);
            let mut fresh = ActorInfer::with_precision(&new, precision);
            actor.act_obs(&obs[..6], 1).unwrap();
            actor.refresh(&new).unwrap();
            for batch in [16, 1, 3, 16] {
                let got = actor.act_obs(&obs[..batch * 6], batch).unwrap().to_vec();
                assert_eq!(got, fresh.act_obs(&obs[..batch * 6], batch).unwrap(), "{precision} batch {batch}");
            }
        }
    }

    #[test]
    fn half_precision_is_refused_without_a_vector_kernel() {
        for isa in [Isa::Portable, Isa::Neon, Isa::Avx2, Isa::Avx512] {
            assert_eq!(WeightPrecision::F32.check_on(isa), Ok(()));
        }
        for p in [WeightPrecision::Bf16, WeightPrecision::F16] {
            assert_eq!(p.check_on(Isa::Avx2), Ok(()));
            assert_eq!(p.check_on(Isa::Avx512), Ok(()));
            let e = p.check_on(Isa::Portable).unwrap_err();
            assert!(e.contains("AVX2") && e.contains("portable") && e.contains("use f32"), "{e}");
            assert!(p.check_on(Isa::Neon).unwrap_err().contains("neon level"), "ARM64 has no half kernel");
        }
    }
}
