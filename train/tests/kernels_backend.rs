//! `--backend kernels`, the fused GPU step with the actor's forward on the device, run on the CPU
//! device (the CUDA kernels' own source on the fiber shim): the training loop drives it like any
//! backend — collection and evaluation through the device's actor, checkpoints, resume with its
//! Adam state — and it follows the fused CPU path's numbers.

mod common;

use common::temp_dir;
use train::config::{Backend, TrainConfig};

fn kernels(total: u64) -> TrainConfig {
    TrainConfig { backend: Backend::Kernels, ..TrainConfig::tiny(total) }
}

#[test]
fn the_kernels_backend_follows_the_fused_cpu_path_and_resumes() {
    // Same seed, same batches: after 20 updates the losses, α and the evaluation nearly agree.
    let (fast, dev, dir_b) = common::first_updates_agree(&kernels(800), "kernels-device");
    let rel = |a: f32, b: f32| (a - b).abs() / a.abs().max(1e-3);
    assert!(rel(fast.entropy, dev.entropy) < 1e-3, "entropy {} vs {}", fast.entropy, dev.entropy);
    assert_eq!(fast.success_rate, dev.success_rate, "the evaluation through the device's actor");

    // Resume: the Adam state saved from the device goes back onto it.
    let again = train::run::train(&kernels(1_600), &dir_b, true, ()).unwrap().final_metrics;
    assert!(again.sgd_steps > dev.sgd_steps && again.critic_loss.is_finite());
    let state = train::state::load(&dir_b.join("train_state.safetensors")).unwrap();
    assert_eq!(state.adam_t, again.sgd_steps, "the device's Adam step count is saved and restored");
    assert!(state.adam_v.iter().any(|&v| v > 0.0), "second moments were saved, not zeros");
    std::fs::remove_dir_all(dir_b).unwrap();
}

#[test]
fn the_kernels_backend_on_cuda_without_the_feature_says_how_to_get_it() {
    let dir = temp_dir("kernels-cuda");
    let cfg = TrainConfig { device: "cuda:0".into(), ..kernels(800) };
    let e = format!("{:#}", train::run::train(&cfg, &dir, false, ()).unwrap_err());
    assert!(e.contains("--features gpu"), "{e}");
    assert!(!dir.join("teacher.safetensors").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
