//! The candle backend (the CUDA path, here on the CPU) runs the same loop: it trains, checkpoints,
//! resumes with its Adam state, and follows the fused CPU path's numbers.

mod common;

use common::temp_dir;
use train::config::TrainConfig;

fn candle(total: u64) -> TrainConfig {
    TrainConfig { backend: train::config::Backend::Candle, ..TrainConfig::tiny(total) }
}

#[test]
fn candle_backend_trains_and_resumes() {
    let dir = temp_dir("candle-backend");
    let first = train::run::train(&candle(800), &dir, false, ()).unwrap().final_metrics;
    assert!(first.sgd_steps > 0 && first.critic_loss.is_finite());
    let again = train::run::train(&candle(1_600), &dir, true, ()).unwrap().final_metrics;
    assert!(again.sgd_steps > first.sgd_steps);
    let state = train::state::load(&dir.join("train_state.safetensors")).unwrap();
    assert_eq!(state.adam_t, again.sgd_steps, "the candle trainer's Adam state is saved and restored");
    assert!(state.adam_v.iter().any(|&v| v > 0.0), "second moments were saved, not zeros");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn candle_and_fast_backends_agree_on_the_first_updates() {
    let (_, _, dir) = common::first_updates_agree(&candle(800), "backend-candle");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_backend_and_device_are_clear_errors() {
    let dir = temp_dir("bad-backend");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("c.toml"), "backend = \"gpu\"\n").unwrap();
    let e = TrainConfig::from_toml_file(&dir.join("c.toml")).unwrap_err().to_string();
    assert!(e.contains("gpu") && e.contains("`auto`, `fast`, `kernels`, `candle`"), "{e}");
    let e = TrainConfig { device: "tpu".into(), ..TrainConfig::default() }.validate().unwrap_err().to_string();
    assert!(e.contains("tpu"), "{e}");
    let dir = temp_dir("fast-on-cuda");
    let cfg = TrainConfig { backend: train::config::Backend::Fast, device: "cuda:0".into(), ..TrainConfig::tiny(800) };
    let e = format!("{:#}", train::run::train(&cfg, &dir, false, ()).unwrap_err());
    assert!(e.contains("CPU only"), "{e}");
}
