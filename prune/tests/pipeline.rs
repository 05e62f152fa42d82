//! The whole pipeline on a tiny fixed-weight model: depth pruning with healing, width pruning of the
//! inner units and the stream with the critic, every output file, and bad arguments as clear errors.

mod common;

use std::path::Path;

use common::{model, write_run, zero_branch};
use distill::teacher::Teacher;
use models::config::TrunkKind;
use prune::config::{PruneConfig, Score};
use prune::run::{prune, Event, Pruned};

/// Tiny sizes: a handful of healing steps, few episodes (50 steps each, from the run's config.toml).
fn tiny(model: &Path) -> PruneConfig {
    PruneConfig {
        model: model.to_path_buf(),
        heal_steps: 32,
        heal_batch_size: 64,
        heal_num_envs: 16,
        heal_unroll_length: 8,
        heal_sgd_steps_per_round: 16,
        heal_curve: false,
        score_states: 64,
        curve_episodes: 4,
        eval_episodes: 8,
        ..PruneConfig::default()
    }
}

fn json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

/// The files hold what the run computed: the checkpoint is the pruned model, the report and its
/// configuration are the run's, the picture is a PNG and the ONNX file a protobuf of the actor.
fn assert_files(p: &Pruned, cfg: &PruneConfig) {
    let dir = &p.out;
    let saved = models::checkpoint::load(&dir.join("student.safetensors")).unwrap();
    assert_eq!((&saved.cfg, &saved.params), (&p.model.cfg, &p.model.params), "the checkpoint is the pruned model");
    let written: PruneConfig = toml::from_str(&std::fs::read_to_string(dir.join("prune.toml")).unwrap()).unwrap();
    assert_eq!(&written, cfg, "prune.toml is the run's configuration");
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    assert_eq!(text, serde_json::to_string_pretty(&p.report).unwrap(), "report.json is the run's report");
    let report = json(dir);
    assert_eq!(report["after_cost"]["actor_depth"].as_u64(), Some(p.model.cfg.actor_depth as u64));
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert_eq!(md, p.report.markdown(), "report.md is the run's report");
    assert!(std::fs::read(dir.join("report.png")).unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_eq!(std::fs::read(dir.join("student.onnx")).unwrap(), models::onnx::actor_to_onnx(&p.model).unwrap());
}

#[test]
fn depth_pruning_removes_the_idle_block_heals_and_writes_a_student() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = model(16, 16, 11);
    zero_branch(&mut m, "actor.trunk", 1);
    write_run(dir.path(), &m);
    let cfg = PruneConfig { keep_blocks: Some(2), ..tiny(dir.path()) };
    let mut heal_points = 0;
    let p = prune(&cfg, |e| heal_points += matches!(e, Event::Heal { .. }) as usize).unwrap();
    assert!(heal_points > 0);
    assert_eq!(p.out, dir.path().join("pruned/keep2-angular"));
    assert_files(&p, &cfg);
    let r = &p.report;
    let removed = &r.removed_blocks.as_ref().unwrap().actor;
    assert_eq!(removed.len(), 2);
    assert_eq!(removed[0], 1, "the block with a zero branch goes first: {r:?}");
    assert_eq!(r.block_scores.as_ref().unwrap().actor[1], 0.0);
    // Curve: 0..=3 blocks removed (the target, 2, among them), healed at the target only.
    let xs: Vec<f64> = r.sensitivity.iter().map(|s| s.x).collect();
    assert_eq!(xs, vec![0.0, 1.0, 2.0, 3.0]);
    assert!(r.sensitivity.iter().all(|s| s.healed.is_some() == (s.x == 2.0)));
    assert_eq!(r.sensitivity[0].unhealed.success_rate, r.sensitivity[1].unhealed.success_rate, "an idle block");
    assert_eq!((r.before_cost.actor_depth, r.after_cost.actor_depth), (16, 8));
    assert!(r.after_cost.actor_parameters < r.before_cost.actor_parameters);
    assert!(r.after_cost.flops_per_action < r.before_cost.flops_per_action);
    assert!(r.after_cost.batch1_us > 0.0 && r.before_cost.batch1_us > 0.0);
    assert_eq!(r.after.episodes, 8);

    let saved = models::checkpoint::load(&p.out.join("student.safetensors")).unwrap();
    assert_eq!(saved.params, p.model.params);
    assert_eq!((saved.cfg.actor_depth, saved.cfg.critic_depth, saved.cfg.training_step), (8, 0, 32));
    assert!(saved.cfg.parent.as_deref().is_some_and(|s| s.ends_with("teacher.safetensors")), "{:?}", saved.cfg.parent);
    let t = Teacher::load(&p.out).unwrap();
    assert_eq!(t.run_dir.as_deref(), Some(dir.path()));

    let j = json(&p.out);
    assert_eq!(j["axis"], "blocks_removed");
    assert_eq!(j["config"]["keep_blocks"], 2);
    assert_eq!(j["after_cost"]["actor_depth"], 8);
    let md = std::fs::read_to_string(p.out.join("report.md")).unwrap();
    assert!(md.contains("Retention") && md.contains("2 (target)"), "{md}");
    let toml: PruneConfig = toml::from_str(&std::fs::read_to_string(p.out.join("prune.toml")).unwrap()).unwrap();
    assert_eq!(toml.keep_blocks, Some(2));

    // A pruned directory can be pruned again (by drop-one this time, without healing).
    let again = PruneConfig {
        target_depth: Some(4),
        score: Score::DropOne,
        heal_steps: 0,
        out: Some(dir.path().join("again")),
        ..tiny(&p.out)
    };
    let q = prune(&again, |_| {}).unwrap();
    assert_eq!(q.model.cfg.actor_depth, 4);
    assert!(!q.report.healed && q.report.heal_curve.is_empty());
}

#[test]
fn width_and_stream_pruning_with_the_critic() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(8, 16, 12);
    write_run(dir.path(), &m);
    let cfg =
        PruneConfig { width_ratio: Some(0.5), prune_stream: true, critic: true, heal_curve: true, ..tiny(dir.path()) };
    let p = prune(&cfg, |_| {}).unwrap();
    assert_eq!(p.out, dir.path().join("pruned/w0.50-stream-critic"));
    assert_files(&p, &cfg);
    let c = &p.model.cfg;
    assert_eq!((c.width, c.actor_depth, c.critic_depth), (8, 8, 8));
    // Inner layers at half the old stream are as wide as the new stream: stored as uniform.
    assert!(c.inner_widths.is_none(), "{:?}", c.inner_widths);
    assert!(p.model.layout.critic.is_some());
    let r = &p.report;
    let healed: Vec<f64> = r.sensitivity.iter().filter(|s| s.healed.is_some()).map(|s| s.x).collect();
    assert_eq!(healed, vec![0.75, 0.5, 0.25], "healed at the target and the heal-curve points");
    assert!(r.after_cost.actor_parameters * 3 < r.before_cost.actor_parameters);

    // Inner units only, actor only: the stream stays and the critic goes.
    let cfg = PruneConfig { width_ratio: Some(0.25), heal_steps: 0, ..tiny(dir.path()) };
    let p = prune(&cfg, |_| {}).unwrap();
    assert_eq!(p.out, dir.path().join("pruned/w0.25"));
    assert_eq!((p.model.cfg.width, p.model.cfg.critic_depth), (16, 0));
    assert_eq!(p.model.cfg.block_inner_widths(TrunkKind::Actor), vec![[4, 4, 4]; 2]);
    assert_files(&p, &cfg);
    assert_eq!(json(&p.out)["inner_widths"]["actor"].as_array().unwrap().len(), 6);
}

fn err(cfg: &PruneConfig) -> String {
    match prune(cfg, |_| {}) {
        Ok(_) => panic!("{cfg:?} should fail"),
        Err(e) => format!("{e:#}"),
    }
}

fn assert_contains(msg: &str, words: &[&str]) {
    for w in words {
        assert!(msg.contains(w), "{w:?} not in: {msg}");
    }
}

#[test]
fn bad_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &model(16, 16, 13));
    let base = || tiny(dir.path());
    let depth = |d| PruneConfig { target_depth: Some(d), ..base() };
    assert_contains(&err(&depth(32)), &["--target-depth 32", "larger than", "depth 16"]);
    assert_contains(&err(&depth(16)), &["--target-depth 16", "nothing to prune"]);
    assert_contains(&err(&depth(10)), &["--target-depth 10", "multiple of 4"]);
    assert_contains(&err(&depth(0)), &["--target-depth 0", "multiple of 4"]);
    assert_contains(&err(&PruneConfig { keep_blocks: Some(0), ..base() }), &["--keep-blocks 0", "at least one"]);
    assert_contains(&err(&PruneConfig { keep_blocks: Some(9), ..base() }), &["--keep-blocks 9", "larger than"]);
    let both = PruneConfig { keep_blocks: Some(2), target_depth: Some(8), ..base() };
    assert_contains(&err(&both), &["--target-depth or --keep-blocks, not both"]);
    assert_contains(&err(&base()), &["nothing to prune", "--width-ratio"]);
    for r in [0.0, 1.0, 1.5, -0.25, f64::NAN] {
        assert_contains(&err(&PruneConfig { width_ratio: Some(r), ..base() }), &["--width-ratio", "between 0 and 1"]);
    }
    let mixed = PruneConfig { width_ratio: Some(0.5), keep_blocks: Some(2), ..base() };
    assert_contains(&err(&mixed), &["two runs"]);
    assert_contains(&err(&PruneConfig { prune_stream: true, keep_blocks: Some(2), ..base() }), &["--prune-stream"]);
    let missing = dir.path().join("nope");
    assert_contains(&err(&PruneConfig { model: missing, keep_blocks: Some(2), ..base() }), &["nope", "does not exist"]);

    let mut actor_only = model(16, 16, 14).cfg;
    actor_only.critic_depth = 0;
    let student = dir.path().join("students/s");
    models::checkpoint::save(&models::Model::init(&actor_only, 0).unwrap(), &student.join("student.safetensors"))
        .unwrap();
    let critic = PruneConfig { model: student, keep_blocks: Some(2), critic: true, ..base() };
    assert_contains(&err(&critic), &["--critic", "has no critic", "drop --critic"]);
}

#[test]
fn the_binary_prints_the_error_and_exits_with_1_or_2_for_bad_flags() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prune"))
        .args(["--model", "/nonexistent/run", "--keep-blocks", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(buildinfo::warned(&stderr), cfg!(debug_assertions), "a debug build says so, a release build does not");
    let error = stderr.lines().find(|l| !buildinfo::warned(l)).unwrap_or("");
    assert!(error.starts_with("error: --model: ") && stderr.contains("does not exist"), "{stderr}");
    // A bad flag is a usage error (2), like clap's own, found before the model is looked for.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prune"))
        .args(["--model", "/nonexistent/run", "--keep-blocks", "2", "--width-ratio", "0.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("two runs"));
}
