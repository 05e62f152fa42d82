//! What one CRL update consumes and reports, and the fused Adam that applies it.
//!
//! An update (DESIGN.md section 3) takes a batch of (state, action, hindsight goal) triples and the
//! actor's reparameterisation noise, computes the actor + α gradients with the pre-update critic and
//! the critic gradients on the same batch, and applies Adam (lr 3e-4, β 0.9/0.999, ε 1e-8) to all
//! three. Because the actor step never changes the critic, all gradients are taken at the same
//! parameters, and one flat gradient buffer (the parameter layout) carries them all.

use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::error::{ModelError, Result};

/// Sizes of one update: batch, state, goal, action, width, representation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    pub b: usize,
    pub s: usize,
    pub g: usize,
    pub a: usize,
    pub w: usize,
    pub r: usize,
}

impl Dims {
    pub(crate) fn new(cfg: &ModelConfig, batch: usize) -> Self {
        Dims { b: batch, s: cfg.state_dim, g: cfg.goal_dim, a: cfg.action_dim, w: cfg.width, r: cfg.repr_dim }
    }
}

/// One batch, row-major: `states [B, state_dim]`, `actions [B, action_dim]` (from replay),
/// `goals [B, goal_dim]` (hindsight goals), `noise [B, action_dim]` (standard normal, for the actor's
/// reparameterised sample; passed in so both implementations and the tests see the same draw).
#[derive(Clone, Copy, Debug)]
pub struct CrlBatch<'a> {
    pub states: &'a [f32],
    pub actions: &'a [f32],
    pub goals: &'a [f32],
    pub noise: &'a [f32],
}

impl CrlBatch<'_> {
    /// The batch size, after checking every buffer against the model's dimensions.
    pub fn size(&self, cfg: &ModelConfig) -> Result<usize> {
        let b = self.states.len() / cfg.state_dim.max(1);
        let checks = [
            ("states", self.states.len(), cfg.state_dim),
            ("actions", self.actions.len(), cfg.action_dim),
            ("goals", self.goals.len(), cfg.goal_dim),
            ("noise", self.noise.len(), cfg.action_dim),
        ];
        for (name, len, dim) in checks {
            if len != b * dim {
                return Err(ModelError::Shape(format!("{name} has {len} values, expected batch {b} × {dim}")));
            }
        }
        if b < 2 {
            return Err(ModelError::Shape(
                "the contrastive critic needs a batch of at least 2 (in-batch negatives)".into(),
            ));
        }
        Ok(b)
    }
}

/// Scalars reported by one update (all taken before the parameters change).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CrlStats {
    pub critic_loss: f32,
    pub actor_loss: f32,
    pub alpha_loss: f32,
    pub alpha: f32,
    /// −mean log π of the sampled actions.
    pub entropy: f32,
    /// Fraction of rows whose largest logit is the diagonal (the positive pair).
    pub critic_accuracy: f32,
    /// Mean diagonal logit (−distance to the positive goal).
    pub logits_pos: f32,
    /// Mean off-diagonal logit.
    pub logits_neg: f32,
}

/// Adam hyperparameters; the design uses the same for actor, critic and α.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Steps over which the learning rate ramps linearly up to `lr` (step t uses lr·t/warmup); 0 =
    /// none. Adam's first steps move every parameter by ±lr at once, and over a deep trunk those moves
    /// add up (issue 26): a ramp makes them small while the moments fill.
    #[serde(default)]
    pub warmup_steps: u64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { lr: 3e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, warmup_steps: 0 }
    }
}

impl AdamConfig {
    /// The factor on `lr` at step `t` (counted from 1): t / warmup_steps during the warm-up, then 1.
    pub fn lr_factor(&self, t: u64) -> f64 {
        if t >= self.warmup_steps {
            1.0
        } else {
            t as f64 / self.warmup_steps as f64
        }
    }

    /// The bias corrections 1/(1 − β1ᵗ) and 1/(1 − β2ᵗ) at step `t`, the first times the warm-up's
    /// factor (it scales m̂, which is the same as scaling lr). In f64: 1 − β2ᵗ is tiny for early
    /// steps and loses digits in f32. The GPU's `adam_tick` computes the same.
    pub fn corrections(&self, t: u64) -> (f64, f64) {
        let scale_m = self.lr_factor(t) / (1.0 - f64::from(self.beta1).powi(t as i32));
        let scale_v = 1.0 / (1.0 - f64::from(self.beta2).powi(t as i32));
        (scale_m, scale_v)
    }
}

/// Adam over a flat parameter buffer: one fused pass reads the gradient and both moments and writes
/// the parameter, so the optimiser costs one sweep of memory instead of a dozen tensor ops.
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    pub cfg: AdamConfig,
    pub m: Vec<f32>,
    pub v: Vec<f32>,
    /// Steps taken so far (for the bias corrections).
    pub t: u64,
}

/// Below this many parameters a second thread costs more than it saves.
const PAR_CHUNK: usize = 1 << 16;

impl Adam {
    pub fn new(cfg: AdamConfig, len: usize) -> Self {
        Adam { cfg, m: vec![0.0; len], v: vec![0.0; len], t: 0 }
    }

    /// θ ← θ − lr·m̂/(√v̂ + ε), the same arithmetic as PyTorch's and candle's Adam.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        assert_eq!(params.len(), self.m.len(), "Adam state and parameters differ in length");
        assert_eq!(grads.len(), self.m.len(), "Adam state and gradients differ in length");
        self.t += 1;
        let c = self.cfg;
        let (scale_m, scale_v) = c.corrections(self.t);
        let (scale_m, scale_v) = (scale_m as f32, scale_v as f32);
        let kernel = |p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]| {
            for i in 0..p.len() {
                let gi = g[i];
                let mi = c.beta1 * m[i] + (1.0 - c.beta1) * gi;
                let vi = c.beta2 * v[i] + (1.0 - c.beta2) * gi * gi;
                m[i] = mi;
                v[i] = vi;
                p[i] -= c.lr * (mi * scale_m) / ((vi * scale_v).sqrt() + c.eps);
            }
        };
        use rayon::prelude::*;
        params
            .par_chunks_mut(PAR_CHUNK)
            .zip(grads.par_chunks(PAR_CHUNK))
            .zip(self.m.par_chunks_mut(PAR_CHUNK))
            .zip(self.v.par_chunks_mut(PAR_CHUNK))
            .for_each(|(((p, g), m), v)| kernel(p, g, m, v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warm_up_ramps_the_learning_rate_linearly_then_leaves_it() {
        let c = AdamConfig { warmup_steps: 4, ..AdamConfig::default() };
        let factors: Vec<f64> = (1..=6).map(|t| c.lr_factor(t)).collect();
        assert_eq!(factors, [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]);
        assert_eq!(AdamConfig::default().lr_factor(1), 1.0, "no warm-up");
        // Adam's first step moves every parameter by lr·w(1): m̂/√v̂ = ±1.
        let mut adam = Adam::new(c, 3);
        let mut p = vec![0.0f32; 3];
        adam.step(&mut p, &[2.0, -0.5, 1e-3]);
        for (i, v) in p.iter().enumerate() {
            assert!((v.abs() - c.lr / 4.0).abs() < 1e-3 * c.lr, "parameter {i} moved {v}");
        }
    }
}
