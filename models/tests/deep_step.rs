//! The paper's scale on CPU: a depth-1024 critic with a 512-layer actor at full width takes one SGD
//! step (issue 4, item 7). ≈ 170 M parameters; with Adam's moments and the gradients ≈ 2.7 GB.

mod common;

use common::OwnedBatch;
use models::fast::FastTrainer;
use models::{AdamConfig, Model, ModelConfig};

#[test]
fn depth_1024_critic_and_512_actor_take_one_sgd_step() {
    let mut cfg = ModelConfig::point_maze(1024);
    cfg.actor_depth = 512;
    let model = Model::init(&cfg, 7).unwrap();
    let data = OwnedBatch::random(&cfg, 8, 8);
    let before = model.params.clone();
    let mut t = FastTrainer::new(model, AdamConfig::default(), 2).unwrap();
    let stats = t.step(&data.view()).unwrap();
    assert!(stats.critic_loss.is_finite() && stats.actor_loss.is_finite(), "{stats:?}");
    assert!(t.grads.iter().all(|g| g.is_finite()), "non-finite gradient");
    let lay = &t.model.layout;
    // Adam moves every parameter that got a gradient by ≈ lr on the first step: check the ends of both
    // networks, which the backward pass reaches last and first.
    for name in [
        "actor.trunk.input.weight",
        "actor.trunk.blocks.127.3.linear.weight",
        "critic.sa.trunk.input.weight",
        "critic.sa.trunk.blocks.255.3.linear.weight",
        "critic.g.trunk.input.weight",
        "critic.g.out.weight",
    ] {
        let spec = lay.specs.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no tensor {name}"));
        let r = spec.range();
        let moved = t.model.params[r.clone()].iter().zip(&before[r]).filter(|(a, b)| a != b).count();
        assert!(moved > 0, "{name}: no parameter moved after one step");
    }
}
