//! Shared test fixtures: small fixed-weight models with nontrivial heads and norms, and a run directory
//! whose `config.toml` gives short episodes.

#![allow(dead_code)]

use std::path::Path;

use models::{Model, ModelConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A point-maze model of `depth` and `width` whose heads and LayerNorm parameters are random (at init
/// the heads are near zero and the norms are the identity, which would hide most mistakes).
pub fn model(depth: usize, width: usize, seed: u64) -> Model {
    let mut model = Model::init(&ModelConfig::point_maze(depth).with_width(width), seed).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
    for spec in model.layout.specs.clone() {
        let (lo, hi) = if spec.name.ends_with("norm.weight") {
            (0.5f32, 1.5)
        } else if spec.name.ends_with("norm.bias") || spec.name.ends_with("linear.bias") {
            (-0.2, 0.2)
        } else if spec.name.starts_with("actor.mean") || spec.name.starts_with("actor.log_std") {
            (-0.3, 0.3)
        } else {
            continue;
        };
        for p in &mut model.params[spec.range()] {
            *p = rng.random_range(lo..hi);
        }
    }
    model
}

/// Makes residual block `b` of `trunk` (a checkpoint prefix such as `actor.trunk`) contribute exactly
/// zero: its fourth LayerNorm's scale and bias are 0, so the branch is SiLU(0·x̂ + 0) = 0.
pub fn zero_branch(model: &mut Model, trunk: &str, b: usize) {
    for t in ["weight", "bias"] {
        let spec = model.layout.spec(&format!("{trunk}.blocks.{b}.3.norm.{t}")).unwrap().clone();
        model.params[spec.range()].fill(0.0);
    }
}

/// Writes `model` as `dir/teacher.safetensors` with a `config.toml` of 50-step episodes, as `train`
/// would leave a run directory.
pub fn write_run(dir: &Path, model: &Model) {
    models::checkpoint::save(model, &dir.join("teacher.safetensors")).unwrap();
    let run = train::config::TrainConfig { depth: model.cfg.actor_depth, ..train::config::TrainConfig::tiny(800) };
    std::fs::write(dir.join("config.toml"), run.to_toml().unwrap()).unwrap();
}

/// `rows` observations [x, y, vx, vy, goal x, goal y] spread over the U-maze.
pub fn observations(rows: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..rows * 6)
        .map(|i| if i % 6 == 2 || i % 6 == 3 { rng.random_range(-1.0..1.0) } else { rng.random_range(0.0..12.0) })
        .collect()
}
