//! The device update step (`models::gpu`), run on the CPU device (the CUDA kernels' own source on
//! the fiber shim, products on `gemm`), against the fused CPU path: the GPU code path's
//! orchestration checked end to end without a GPU (issue 16, item 3c).

mod common;

use common::{assert_stats_close, perturbed_model, worst_tensor_error, OwnedBatch};
use kernels::cpu::CpuDevice;
use models::config::TrunkKind;
use models::fast::FastTrainer;
use models::gpu::{DeviceStep, Mode};
use models::{AdamConfig, Model, ModelConfig, ResidualInit};

/// Steps the fused path and the device step side by side; gradients, statistics and the
/// parameters after Adam agree within `tol` (relative, per tensor) at every step.
fn check(cfg: &ModelConfig, batch: usize, steps: u64, tol: f32) {
    check_from(cfg, perturbed_model(cfg, 7), AdamConfig::default(), batch, steps, tol);
}

fn check_from(cfg: &ModelConfig, model: Model, adam: AdamConfig, batch: usize, steps: u64, tol: f32) {
    let mut fast = FastTrainer::new(model.clone(), adam, 1).unwrap();
    let mut dev = DeviceStep::new(CpuDevice::new(), model.clone(), adam, batch, Mode::Eager).unwrap();
    let at = format!("depth {}, width {}, batch {batch}", cfg.critic_depth, cfg.width);
    for step in 0..steps {
        let data = OwnedBatch::random(cfg, batch, 11 + step);
        let want = fast.step(&data.view()).unwrap();
        let got = dev.step(&data.view()).unwrap();
        assert_stats_close(&got, &want, tol, &format!("{at}, step {step}"));
        let (err, name) = worst_tensor_error(&model, &dev.grads().unwrap(), &fast.grads);
        eprintln!("{at}, step {step}: worst relative gradient error {err:e} in {name}");
        assert!(err <= tol, "{at}, step {step}: gradient of {name} differs by {err:e}");
        // Adam divides by √v̂: where a gradient is noise around zero (1e-9 against 1e-10, both
        // "zero" at the tensor's scale), the two paths' steps differ by up to a whole lr. So: no
        // element apart by more than one step size per step taken, and almost all within `tol`.
        let (p_dev, p_fast) = (dev.model().unwrap().params.clone(), &fast.model.params);
        let bound = adam.lr * (step + 1) as f32 * 1.01;
        let apart: Vec<f32> = p_dev.iter().zip(p_fast).map(|(a, b)| (a - b).abs()).collect();
        let worst = apart.iter().fold(0f32, |m, v| m.max(*v));
        assert!(worst <= bound, "{at}, step {step}: a parameter moved {worst:e} apart (one Adam step is {})", adam.lr);
        let scale = p_fast.iter().fold(0f32, |m, v| m.max(v.abs()));
        let far = apart.iter().filter(|d| **d > tol * scale).count();
        assert!(
            far * 1000 <= apart.len(),
            "{at}, step {step}: {far} of {} parameters apart by more than {tol:e}",
            apart.len()
        );
    }
    let (m, v, t) = dev.adam_state().unwrap();
    assert_eq!(t, steps, "Adam's device-side step count");
    let (err_m, _) = worst_tensor_error(&model, &m, &fast.adam.m);
    let (err_v, _) = worst_tensor_error(&model, &v, &fast.adam.v);
    assert!(err_m <= tol && err_v <= tol, "{at}: Adam moments differ by {err_m:e} / {err_v:e}");
}

#[test]
fn the_device_step_matches_the_fused_path_at_depth_4() {
    check(&ModelConfig::point_maze(4).with_width(64), 37, 3, 1e-4);
}

#[test]
fn the_device_step_matches_the_fused_path_at_depth_8() {
    check(&ModelConfig::point_maze(8).with_width(64), 37, 2, 1e-4);
}

#[test]
fn the_device_step_matches_the_fused_path_with_width_pruned_blocks() {
    let mut cfg = ModelConfig::point_maze(8).with_width(32);
    cfg.set_block_inner_widths(TrunkKind::Actor, &[[16, 8, 24], [32, 32, 32]]);
    cfg.set_block_inner_widths(TrunkKind::CriticSa, &[[8, 8, 8], [4, 16, 32]]);
    cfg.set_block_inner_widths(TrunkKind::CriticG, &[[32, 3, 32], [5, 6, 7]]);
    cfg.validate().unwrap();
    check(&cfg, 24, 2, 1e-4);
}

#[test]
fn the_device_step_matches_the_fused_path_with_a_warm_up_from_zero_residual_blocks() {
    // Issue 26's options: every block's last LayerNorm γ at 0 (the branches' other layers then get
    // exactly zero gradient at the first step) and a learning rate ramped over 3 steps.
    let cfg = ModelConfig::point_maze(8).with_width(32);
    let model = Model::init_with(&cfg, 7, ResidualInit::Zero).unwrap();
    let adam = AdamConfig { warmup_steps: 3, ..AdamConfig::default() };
    check_from(&cfg, model, adam, 24, 4, 1e-4);
}

#[test]
fn the_device_step_matches_the_fused_path_with_a_norm_before_the_heads() {
    check(&ModelConfig { head_norm: true, ..ModelConfig::point_maze(8).with_width(64) }, 37, 2, 1e-4);
}

#[test]
fn a_replayed_graph_equals_eager_execution_bit_for_bit() {
    let cfg = ModelConfig::point_maze(4).with_width(32);
    let model = perturbed_model(&cfg, 5);
    let adam = AdamConfig::default();
    let mut eager = DeviceStep::new(CpuDevice::new(), model.clone(), adam, 16, Mode::Eager).unwrap();
    let mut graph = DeviceStep::new(CpuDevice::new(), model, adam, 16, Mode::Graph).unwrap();
    for step in 0..3 {
        let data = OwnedBatch::random(&cfg, 16, 40 + step);
        let a = eager.step(&data.view()).unwrap();
        let b = graph.step(&data.view()).unwrap();
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "step {step}: statistics");
        assert_eq!(eager.launches_per_step, graph.launches_per_step, "step {step}: the graph holds every launch");
    }
    let (pa, pb) = (eager.model().unwrap().params.clone(), graph.model().unwrap().params.clone());
    assert!(pa.iter().zip(&pb).all(|(x, y)| x.to_bits() == y.to_bits()), "parameters after three steps");
}

#[test]
fn a_depth_1024_critic_with_a_512_layer_actor_takes_a_step() {
    let mut cfg = ModelConfig::point_maze(1024).with_width(32);
    cfg.actor_depth = 512;
    cfg.validate().unwrap();
    let model = perturbed_model(&cfg, 1);
    let mut dev = DeviceStep::new(CpuDevice::new(), model.clone(), AdamConfig::default(), 4, Mode::Graph).unwrap();
    let data = OwnedBatch::random(&cfg, 4, 2);
    let stats = dev.step(&data.view()).unwrap();
    assert!(stats.critic_loss.is_finite() && stats.actor_loss.is_finite(), "{stats:?}");
    let grads = dev.grads().unwrap();
    for spec in &model.layout.specs {
        assert!(grads[spec.range()].iter().all(|g| g.is_finite()), "{}: non-finite gradient", spec.name);
    }
    let moved = dev.model().unwrap().params.iter().zip(&model.params).filter(|(a, b)| a != b).count();
    assert!(moved > model.params.len() / 2, "Adam moved {moved} of {} parameters", model.params.len());
    eprintln!("depth 1024/512 step: {} launches", dev.launches_per_step);
}

#[test]
fn a_batch_of_the_wrong_size_and_an_actor_only_model_are_errors() {
    let cfg = ModelConfig::point_maze(4).with_width(32);
    let model = perturbed_model(&cfg, 5);
    let mut dev = DeviceStep::new(CpuDevice::new(), model, AdamConfig::default(), 16, Mode::Graph).unwrap();
    let e = dev.step(&OwnedBatch::random(&cfg, 8, 1).view()).unwrap_err();
    assert!(e.to_string().contains("built for 16"), "{e}");
    let mut actor_only = cfg.clone();
    actor_only.critic_depth = 0;
    let m = models::Model::init(&actor_only, 1).unwrap();
    let e = DeviceStep::new(CpuDevice::new(), m, AdamConfig::default(), 16, Mode::Eager).err().unwrap();
    assert!(e.to_string().contains("needs a critic"), "{e}");
}
