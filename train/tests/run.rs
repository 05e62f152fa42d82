//! A tiny training run writes every file it promises, and its metrics are well formed.

mod common;

use common::temp_dir;
use train::config::TrainConfig;

#[test]
fn tiny_run_writes_checkpoint_metrics_and_eval() {
    let dir = temp_dir("train-test");
    let cfg = TrainConfig { eval_every: 800, ..TrainConfig::tiny(2_000) };
    let mut evals = Vec::new();
    let summary = train::run::train(&cfg, &dir, false, |m: &train::metrics::Metrics| evals.push(m.clone())).unwrap();
    assert!(evals.len() >= 3, "expected evaluations at the start, every 800 steps and at the end");
    let last = &summary.final_metrics;
    assert!(last.env_steps >= 2_000 && last.sgd_steps > 0);
    assert!(last.critic_loss.is_finite());
    let model = models::checkpoint::load(&dir.join("teacher.safetensors")).unwrap();
    let initial = models::Model::init(&model.cfg, cfg.seed).unwrap();
    let log_alpha = model.layout.log_alpha.unwrap();
    let alpha0 = initial.params[log_alpha].exp();
    assert!((last.alpha - alpha0).abs() > 1e-4, "the α update ran: α {} from {alpha0}", last.alpha);
    assert_eq!(last.per_goal.len(), 3, "u_maze_eval has three goal cells: {:?}", last.per_goal);
    for f in [
        "teacher.safetensors",
        "train_state.safetensors",
        "bank.safetensors",
        "metrics.jsonl",
        "metrics.csv",
        "eval.json",
        "config.toml",
        "curves.png",
        "trajectories.png",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert!(evals[0].sgd_steps == 0 && evals[0].critic_loss.is_nan(), "the first evaluation precedes any update");
    let lines = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), evals.len());
    for line in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["success_rate"].as_f64().is_some_and(|s| (0.0..=1.0).contains(&s)));
    }
    let model = models::checkpoint::load(&dir.join("teacher.safetensors")).unwrap();
    assert_eq!(model.cfg.training_step, last.sgd_steps);
    assert_eq!(model.cfg.width, 32);
    let resolved = TrainConfig::from_toml_file(&dir.join("config.toml")).unwrap();
    assert_eq!(resolved, cfg);

    let bank = models::bank::WaypointBank::load(&dir.join("bank.safetensors")).unwrap();
    assert_eq!((bank.len(), bank.state_dim, bank.info.goal_indices.clone()), (cfg.bank_size, 4, vec![0, 1]));
    for (s, g) in bank.states.chunks(4).zip(bank.goals.chunks(2)) {
        assert_eq!(&s[..2], g, "a bank goal is its state's (x, y)");
    }
    let distinct: std::collections::HashSet<_> =
        bank.goals.chunks(2).map(|g| (g[0].to_bits(), g[1].to_bits())).collect();
    assert_eq!(distinct.len(), bank.len(), "farthest-point sampling never picks a point twice");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_configs_are_clear_errors() {
    for (cfg, want) in [
        (TrainConfig { depth: 6, ..TrainConfig::default() }, "multiple of 4"),
        (TrainConfig { batch_size: 1, ..TrainConfig::default() }, "at least 2"),
        (TrainConfig { gamma: 1.0, ..TrainConfig::default() }, "gamma"),
        (TrainConfig { num_envs: 0, ..TrainConfig::default() }, "num_envs"),
        // The Gymnasium options are checked without the gym feature or an interpreter.
        (TrainConfig { gym_kwargs: Some("[1]".into()), ..TrainConfig::default() }, "a JSON object is needed"),
        (TrainConfig { gym_kwargs: Some("{x".into()), ..TrainConfig::default() }, "not JSON"),
        (TrainConfig { gym_kwargs: Some("{}".into()), ..TrainConfig::default() }, "for Gymnasium environments"),
        (TrainConfig { gym_success_radius: Some(0.45), ..TrainConfig::default() }, "for Gymnasium environments"),
        (
            TrainConfig {
                env: "gym:PointMaze_UMaze-v3".into(),
                gym_success_radius: Some(-1.0),
                ..TrainConfig::default()
            },
            "positive distance",
        ),
    ] {
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
    let e = train::run::train(
        &TrainConfig { env: "nope".into(), ..TrainConfig::default() },
        std::path::Path::new("/tmp/deepcrl-nope"),
        false,
        (),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown environment") && e.contains("point_u_maze"), "{e}");
    // The binary refuses a bad flag with 2; a debug build says first that it is one.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_train")).args(["--depth", "6"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("multiple of 4"), "{stderr}");
    assert_eq!(buildinfo::warned(&stderr), cfg!(debug_assertions), "a debug build says so, a release build does not");
}

#[test]
fn a_fresh_run_over_an_old_one_or_beside_a_running_one_is_refused_and_loses_nothing() {
    let dir = temp_dir("train-refuse");
    // The largest seed: derived seeds wrap instead of overflowing.
    let cfg = TrainConfig { seed: u64::MAX, ..TrainConfig::tiny(400) };
    train::run::train(&cfg, &dir, false, ()).unwrap();
    let metrics = std::fs::read(dir.join("metrics.jsonl")).unwrap();
    let e = format!("{:#}", train::run::train(&cfg, &dir, false, ()).unwrap_err());
    assert!(e.contains("--resume") && e.contains("new --out"), "{e}");
    assert_eq!(std::fs::read(dir.join("metrics.jsonl")).unwrap(), metrics, "the old run's metrics are intact");

    let held = rundir::RunLock::acquire(&dir).unwrap();
    let e = format!("{:#}", train::run::train(&cfg, &dir, true, ()).unwrap_err());
    assert!(e.contains("another process"), "{e}");
    drop(held);
    let more = TrainConfig { total_env_steps: 800, ..cfg };
    train::run::train(&more, &dir, true, ()).expect("the directory is free again");
}

/// `--residual-init`, `--lr-warmup` and `--head-norm` reach the model and the optimiser: with identity
/// blocks and a warm-up far longer than the run, the teacher is still its initialisation (every
/// block's last LayerNorm scale 0, every other parameter where `Model::init_with` put it, to within
/// the few 1e-10 steps the ramp allowed), its checkpoint's config has the norm before the heads,
/// and config.toml records all three.
#[test]
fn deep_actor_options_reach_the_model_and_the_optimiser() {
    let dir = temp_dir("train-residual-init");
    let cfg = TrainConfig {
        depth: 8,
        residual_init: train::config::ResidualInit::Zero,
        lr_warmup: 1_000_000_000,
        head_norm: true,
        ..TrainConfig::tiny(600)
    };
    let summary = train::run::train(&cfg, &dir, false, |_: &train::metrics::Metrics| {}).unwrap();
    assert!(summary.final_metrics.sgd_steps > 0);
    let model = models::checkpoint::load(&dir.join("teacher.safetensors")).unwrap();
    assert!(model.cfg.head_norm, "the checkpoint's config records the norm before the heads");
    let initial = models::Model::init_with(&model.cfg, cfg.seed, models::ResidualInit::Zero).unwrap();
    let moved = model.params.iter().zip(&initial.params).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(moved < 1e-6, "parameters moved {moved} under a warm-up of 1e9 steps");
    let gamma = model.tensor("actor.trunk.blocks.1.3.norm.weight").unwrap();
    assert!(gamma.iter().all(|g| g.abs() < 1e-6), "{gamma:?}");
    assert_eq!(TrainConfig::from_toml_file(&dir.join("config.toml")).unwrap(), cfg);
    std::fs::remove_dir_all(&dir).unwrap();
}
