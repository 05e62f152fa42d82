//! The fast CPU path computes the same update as the composed candle reference.

mod common;

use candle_core::{DType, Device};
use common::{perturbed_model, OwnedBatch};
use models::candle_update::candle_grads;
use models::fast::FastTrainer;
use models::reference::CandleModel;
use models::{AdamConfig, ModelConfig};

/// Largest |fast − reference| over a tensor, relative to the tensor's largest reference value
/// (floored at 1, so tiny gradients are compared absolutely).
fn worst_error(model: &models::Model, fast: &[f32], reference: &[f32]) -> (String, f32) {
    let mut worst = (String::new(), 0f32);
    for spec in &model.layout.specs {
        let (f, r) = (&fast[spec.range()], &reference[spec.range()]);
        let scale = r.iter().fold(1f32, |m, v| m.max(v.abs()));
        let err = f.iter().zip(r).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / scale;
        if err > worst.1 || worst.0.is_empty() {
            worst = (spec.name.clone(), err);
        }
    }
    worst
}

fn check(depth: usize, width: usize, batch: usize, threads: usize) {
    let cfg = ModelConfig::point_maze(depth).with_width(width);
    let model = perturbed_model(&cfg, 7);
    let data = OwnedBatch::random(&cfg, batch, 11);
    let net = CandleModel::from_model(&model, &Device::Cpu, DType::F32).unwrap();
    let (ref_grads, ref_stats) = candle_grads(&net, &model, &data.view()).unwrap();
    let mut fast = FastTrainer::new(model.clone(), AdamConfig::default(), threads).unwrap();
    let stats = fast.compute_grads(&data.view()).unwrap();

    let (name, err) = worst_error(&model, &fast.grads, &ref_grads);
    eprintln!("depth {depth} width {width}: worst relative gradient error {err:e} in {name}");
    assert!(err <= 1e-4, "depth {depth}: gradient of {name} differs by {err:e} (relative)");
    let pairs = [
        ("critic_loss", stats.critic_loss, ref_stats.critic_loss),
        ("actor_loss", stats.actor_loss, ref_stats.actor_loss),
        ("alpha_loss", stats.alpha_loss, ref_stats.alpha_loss),
        ("entropy", stats.entropy, ref_stats.entropy),
        ("critic_accuracy", stats.critic_accuracy, ref_stats.critic_accuracy),
        ("logits_pos", stats.logits_pos, ref_stats.logits_pos),
        ("logits_neg", stats.logits_neg, ref_stats.logits_neg),
    ];
    for (what, a, b) in pairs {
        assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{what}: fast {a} vs reference {b}");
    }
    // Every parameter receives a gradient (candle's fused norms would silently drop them).
    for spec in &model.layout.specs {
        let g = &fast.grads[spec.range()];
        assert!(g.iter().any(|v| *v != 0.0), "{} has an all-zero gradient", spec.name);
    }
}

#[test]
fn fast_gradients_match_candle_depth_4() {
    check(4, 64, 32, 1);
}

#[test]
fn fast_gradients_match_candle_depth_8_two_threads() {
    check(8, 64, 96, 2);
}

#[test]
fn fast_gradients_match_candle_full_width() {
    check(4, 256, 64, 2);
}

#[test]
fn fast_and_candle_updates_stay_together_over_steps() {
    let cfg = ModelConfig::point_maze(4).with_width(32);
    let model = perturbed_model(&cfg, 3);
    let mut fast = FastTrainer::new(model.clone(), AdamConfig::default(), 1).unwrap();
    let net = CandleModel::from_model(&model, &Device::Cpu, DType::F32).unwrap();
    let mut slow = models::candle_update::CandleTrainer::new(net, AdamConfig::default()).unwrap();
    for step in 0..5 {
        let data = OwnedBatch::random(&cfg, 32, 100 + step);
        let a = fast.step(&data.view()).unwrap();
        let b = slow.step(&data.view()).unwrap();
        assert!((a.critic_loss - b.critic_loss).abs() < 1e-4, "step {step}: {a:?} vs {b:?}");
    }
    let mut after = model.clone();
    slow.net.write_back(&mut after).unwrap();
    let max_diff = fast.model.params.iter().zip(&after.params).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(max_diff < 1e-4, "parameters drifted apart by {max_diff}");
    // And they moved: Adam took five real steps.
    let moved = fast.model.params.iter().zip(&model.params).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(moved > 5e-4, "parameters barely moved ({moved})");
}
