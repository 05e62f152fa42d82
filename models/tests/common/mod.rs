//! Helpers shared by the integration tests: seeded models and batches.
#![allow(dead_code)]

use models::{Model, ModelConfig};
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

    pub fn view(&self) -> models::CrlBatch<'_> {
        models::CrlBatch { states: &self.states, actions: &self.actions, goals: &self.goals, noise: &self.noise }
    }
}
