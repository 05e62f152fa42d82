//! A Gymnasium environment that raises inside `step` ends the run with the Python traceback and leaves
//! the last checkpoint loadable and resumable; `--save-replay`, which such an env cannot honour, is
//! refused before the run starts. Runs with the `gym` feature after scripts/gym.sh and
//! `source .tools/gym/env.sh` (CI does both).
#![cfg(feature = "gym")]

use std::path::Path;

use train::config::TrainConfig;

/// Makes the shipped toy env (examples/gym/point_goal.py) importable as a user's own module is:
/// from the current folder. Every test here sets the same folder.
fn in_examples() {
    std::env::set_current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/gym")).unwrap();
}

/// env_steps of every evaluation in metrics.jsonl.
fn evaluated_at(dir: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["env_steps"].as_u64().unwrap()).collect()
}

#[test]
fn an_exception_in_step_ends_the_run_with_its_traceback_and_keeps_the_last_checkpoint() {
    in_examples();
    // Each of the 8 training envs raises on its 121st step (steps 961-1040 of the run), after the
    // evaluations at 400 and 800 env steps have each written a checkpoint. The evaluation envs are
    // separate instances and take 50 steps per evaluation, so they never reach the limit first.
    let cfg = TrainConfig {
        env: "gym:point_goal:make".into(),
        gym_kwargs: Some(r#"{"raise_after": 120}"#.into()),
        ..TrainConfig::tiny(4_000)
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let e = format!("{:#}", train::run::train(&cfg, &out, false, ()).unwrap_err());
    assert!(e.contains("RuntimeError") && e.contains("simulated failure after 120 steps"), "{e}");
    assert!(e.contains("Traceback") && e.contains("point_goal.py"), "no Python traceback: {e}");
    assert_eq!(evaluated_at(&out), vec![400, 800]);
    let model = models::checkpoint::load(&out.join("teacher.safetensors")).unwrap();
    let state = train::state::load(&out.join("train_state.safetensors")).unwrap();
    assert_eq!(model.params, state.model.params, "teacher and train state are from different steps");
    assert_eq!(state.counters.env_steps, 800);
    assert_eq!(model.cfg.env, "gym:point_goal:make");
    let recorded = TrainConfig::from_toml_file(&out.join("config.toml")).unwrap();
    assert_eq!(recorded.gym_kwargs, cfg.gym_kwargs, "config.toml keeps the kwargs");

    // A resume makes fresh envs (the toy counts steps per instance) with the recorded kwargs: it
    // refills the replay (50 steps of each env), goes on from 800 and raises again 560 steps later,
    // after one more evaluation.
    let e = format!("{:#}", train::run::train(&recorded, &out, true, ()).unwrap_err());
    assert!(e.contains("simulated failure"), "{e}");
    assert_eq!(evaluated_at(&out), vec![400, 800, 1200]);
    assert_eq!(train::state::load(&out.join("train_state.safetensors")).unwrap().counters.env_steps, 1200);
}

#[test]
fn save_replay_on_a_gymnasium_env_is_refused_before_the_run_starts() {
    in_examples();
    let cfg = TrainConfig { env: "gym:point_goal:make".into(), save_replay: true, ..TrainConfig::tiny(4_000) };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let e = train::run::train(&cfg, &out, false, ()).unwrap_err().to_string();
    assert!(e.contains("gym:point_goal:make cannot be checkpointed") && e.contains("without --save-replay"), "{e}");
    assert!(!out.exists(), "the run directory was made before the refusal");
}
