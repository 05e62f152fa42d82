//! The fast CPU path computes the same update as the composed candle reference.

mod common;

use candle_core::{DType, Device};
use common::{assert_stats_close, perturbed_model, worst_tensor_error, OwnedBatch};
use models::candle_update::candle_grads;
use models::config::TrunkKind;
use models::fast::FastTrainer;
use models::reference::CandleModel;
use models::{AdamConfig, Model, ModelConfig, ResidualInit};

fn check(depth: usize, width: usize, batch: usize, threads: usize) {
    check_cfg(&ModelConfig::point_maze(depth).with_width(width), batch, threads);
}

fn check_cfg(cfg: &ModelConfig, batch: usize, threads: usize) {
    let (depth, width) = (cfg.actor_depth, cfg.width);
    let model = perturbed_model(cfg, 7);
    let data = OwnedBatch::random(cfg, batch, 11);
    let net = CandleModel::from_model(&model, &Device::Cpu, DType::F32).unwrap();
    let (ref_grads, ref_stats) = candle_grads(&net, &model, &data.view()).unwrap();
    let mut fast = FastTrainer::new(model.clone(), AdamConfig::default(), threads).unwrap();
    let stats = fast.compute_grads(&data.view()).unwrap();

    let (err, name) = worst_tensor_error(&model, &fast.grads, &ref_grads);
    eprintln!("depth {depth} width {width}: worst relative gradient error {err:e} in {name}");
    assert!(err <= 1e-4, "depth {depth}: gradient of {name} differs by {err:e} (relative)");
    assert_stats_close(&stats, &ref_stats, 1e-4, &format!("depth {depth}"));
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

/// Width-pruned blocks (layers narrower than the stream, different in every trunk) train on the
/// fast path too.
#[test]
fn fast_gradients_match_candle_with_inner_widths() {
    let mut cfg = ModelConfig::point_maze(8).with_width(32);
    cfg.set_block_inner_widths(TrunkKind::Actor, &[[16, 8, 24], [32, 32, 32]]);
    cfg.set_block_inner_widths(TrunkKind::CriticSa, &[[8, 8, 8], [4, 16, 32]]);
    cfg.set_block_inner_widths(TrunkKind::CriticG, &[[32, 3, 32], [5, 6, 7]]);
    cfg.validate().unwrap();
    check_cfg(&cfg, 24, 1);
    check_cfg(&cfg, 80, 2);
}

#[test]
fn fast_gradients_match_candle_with_a_norm_before_the_heads() {
    check_cfg(&ModelConfig { head_norm: true, ..ModelConfig::point_maze(8).with_width(32) }, 24, 1);
}

#[test]
fn fast_and_candle_updates_stay_together_over_steps() {
    let cfg = ModelConfig::point_maze(4).with_width(32);
    stay_together(&cfg, perturbed_model(&cfg, 3), AdamConfig::default());
}

#[test]
fn fast_and_candle_stay_together_with_a_warm_up_from_scaled_residual_blocks() {
    // Issue 26's options: the blocks' last LayerNorm γ at 1/√blocks, the learning rate ramped over 4 steps.
    let cfg = ModelConfig::point_maze(8).with_width(32);
    let model = Model::init_with(&cfg, 3, ResidualInit::InvSqrtBlocks).unwrap();
    stay_together(&cfg, model, AdamConfig { warmup_steps: 4, ..AdamConfig::default() });
}

/// Five steps of the fused path and candle's reference from `model`: the same losses, parameters and
/// Adam state.
fn stay_together(cfg: &ModelConfig, model: Model, adam: AdamConfig) {
    let mut fast = FastTrainer::new(model.clone(), adam, 1).unwrap();
    let net = CandleModel::from_model(&model, &Device::Cpu, DType::F32).unwrap();
    let mut slow = models::candle_update::CandleTrainer::new(net, adam).unwrap();
    for step in 0..5 {
        let data = OwnedBatch::random(cfg, 32, 100 + step);
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
    // The candle trainer's Adam moments are the fast path's, in the same flat layout.
    let (m, v) = slow.adam_moments(&model.layout).unwrap();
    let worst = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst(&m, &fast.adam.m) < 1e-5 && worst(&v, &fast.adam.v) < 1e-7, "Adam moments differ");
    assert_eq!(slow.t, fast.adam.t);
}

#[test]
fn candle_trainer_resumes_from_saved_adam_state() {
    let cfg = ModelConfig::point_maze(4).with_width(16);
    let model = perturbed_model(&cfg, 5);
    let new = |m: &models::Model| {
        let net = CandleModel::from_model(m, &Device::Cpu, DType::F32).unwrap();
        models::candle_update::CandleTrainer::new(net, AdamConfig::default()).unwrap()
    };
    let batches: Vec<OwnedBatch> = (0..4).map(|k| OwnedBatch::random(&cfg, 16, 200 + k)).collect();
    let mut straight = new(&model);
    for b in &batches {
        straight.step(&b.view()).unwrap();
    }
    // Two steps, save parameters and moments, rebuild, two more steps: the same parameters bit for bit.
    let mut first = new(&model);
    for b in &batches[..2] {
        first.step(&b.view()).unwrap();
    }
    let mut saved = model.clone();
    first.net.write_back(&mut saved).unwrap();
    let (m, v) = first.adam_moments(&model.layout).unwrap();
    let mut resumed = new(&saved);
    resumed.set_adam_state(&model.layout, &m, &v, first.t).unwrap();
    for b in &batches[2..] {
        resumed.step(&b.view()).unwrap();
    }
    let (mut a, mut b) = (model.clone(), model.clone());
    straight.net.write_back(&mut a).unwrap();
    resumed.net.write_back(&mut b).unwrap();
    assert!(a.params == b.params, "a resumed candle trainer must continue exactly");
}
