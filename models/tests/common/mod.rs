//! Helpers shared by the integration tests: seeded models and batches.
#![allow(dead_code)]

use models::{CrlStats, Model, ModelConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// A model whose every parameter (norm scales and biases included) is away from its init value, so
/// a gradient that ignores a parameter cannot pass by accident.
pub fn perturbed_model(cfg: &ModelConfig, seed: u64) -> Model {
    let mut model = Model::init(cfg, seed).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    for spec in &model.layout.specs {
        if spec.shape.len() == 1 {
            for x in &mut model.params[spec.range()] {
                *x += rng.random_range(-0.3..0.3);
            }
        }
    }
    model
}

pub struct OwnedBatch {
    pub states: Vec<f32>,
    pub actions: Vec<f32>,
    pub goals: Vec<f32>,
    pub noise: Vec<f32>,
}

impl OwnedBatch {
    pub fn random(cfg: &ModelConfig, b: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut uni = |n: usize, lo: f32, hi: f32| (0..n).map(|_| rng.random_range(lo..hi)).collect::<Vec<f32>>();
        let states = uni(b * cfg.state_dim, -3.0, 3.0);
        let actions = uni(b * cfg.action_dim, -1.0, 1.0);
        let goals = uni(b * cfg.goal_dim, -3.0, 3.0);
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 1);
        let noise = (0..b * cfg.action_dim).map(|_| rng.sample::<f32, _>(StandardNormal)).collect();
        OwnedBatch { states, actions, goals, noise }
    }

    /// Rows `[r·b, (r+1)·b)` of every buffer: data-parallel rank r's share of the batch.
    pub fn rows(&self, cfg: &ModelConfig, r: usize, b: usize) -> OwnedBatch {
        let take = |v: &[f32], dim: usize| v[r * b * dim..(r + 1) * b * dim].to_vec();
        OwnedBatch {
            states: take(&self.states, cfg.state_dim),
            actions: take(&self.actions, cfg.action_dim),
            goals: take(&self.goals, cfg.goal_dim),
            noise: take(&self.noise, cfg.action_dim),
        }
    }

    pub fn view(&self) -> models::CrlBatch<'_> {
        models::CrlBatch { states: &self.states, actions: &self.actions, goals: &self.goals, noise: &self.noise }
    }
}

/// Per tensor: max |fast − reference| / max |reference|; the worst over tensors, with its name. A
/// tensor whose reference gradient is exactly zero must be exactly zero on the fast path too.
pub fn worst_tensor_error(model: &Model, fast: &[f32], reference: &[f32]) -> (f32, String) {
    let mut worst = (0f32, String::new());
    for spec in &model.layout.specs {
        let (f, r) = (&fast[spec.range()], &reference[spec.range()]);
        let scale = r.iter().fold(0f32, |m, v| m.max(v.abs()));
        if scale == 0.0 {
            eprintln!("{}: gradient is exactly zero (saturated tanh)", spec.name);
            assert!(f.iter().all(|v| *v == 0.0), "{}: candle's gradient is zero, the fast path's is not", spec.name);
            continue;
        }
        let err = f.iter().zip(r).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / scale;
        if err >= worst.0 {
            worst = (err, spec.name.clone());
        }
    }
    worst
}

/// Asserts every scalar of two updates agrees within `rel` (relative, floored at 1).
pub fn assert_stats_close(fast: &CrlStats, reference: &CrlStats, rel: f32, context: &str) {
    let pairs = [
        ("critic_loss", fast.critic_loss, reference.critic_loss),
        ("actor_loss", fast.actor_loss, reference.actor_loss),
        ("alpha_loss", fast.alpha_loss, reference.alpha_loss),
        ("alpha", fast.alpha, reference.alpha),
        ("entropy", fast.entropy, reference.entropy),
        ("critic_accuracy", fast.critic_accuracy, reference.critic_accuracy),
        ("logits_pos", fast.logits_pos, reference.logits_pos),
        ("logits_neg", fast.logits_neg, reference.logits_neg),
    ];
    for (what, a, b) in pairs {
        assert!((a - b).abs() <= rel * b.abs().max(1.0), "{context} {what}: fast {a} vs reference {b}");
    }
}
