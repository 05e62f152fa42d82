//! A fixed-weight teacher is distilled into a smaller student whose actions match on held-out states;
//! the student's ONNX export matches candle; a bad teacher is a clear error.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use distill::run::{distill, DistillConfig};
use distill::teacher::Teacher;
use models::reference::CandleModel;
use models::{Model, ModelConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tract_onnx::prelude::{tvec, Framework, InferenceModelExt, IntoRunnable, IntoTValue, Tensor as TTensor};
use train::config::TrainConfig;

/// A depth-8 width-32 teacher whose heads have random weights (at init they are near zero, and a
/// constant teacher would be too easy to imitate).
fn teacher(dir: &Path) -> Teacher {
    let mut model = Model::init(&ModelConfig::point_maze(8).with_width(32), 3).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for spec in model.layout.specs.clone() {
        if spec.name.starts_with("actor.mean") || spec.name.starts_with("actor.log_std") {
            for p in &mut model.params[spec.range()] {
                *p = rng.random_range(-0.3f32..0.3);
            }
        }
    }
    let path = dir.join("teacher.safetensors");
    models::checkpoint::save(&model, &path).unwrap();
    Teacher::load(dir).unwrap()
}

fn tiny(dir: &Path, steps: usize) -> DistillConfig {
    DistillConfig {
        teacher: dir.to_path_buf(),
        student_depth: 4,
        student_width: Some(32),
        steps,
        batch_size: 64,
        num_envs: 16,
        unroll_length: 8,
        sgd_steps_per_round: 16,
        eval_episodes: 8,
        curve_eval_episodes: 0,
        ..DistillConfig::default()
    }
}

#[test]
fn the_student_learns_the_teachers_actions() {
    let dir = tempfile::tempdir().unwrap();
    let t = teacher(dir.path());
    let cfg = DistillConfig { curve_eval_episodes: 2, ..tiny(dir.path(), 400) };
    let out = distill(&cfg, &t, |_| {}).unwrap();
    let (first, last) = (&out.curve[0], out.curve.last().unwrap());
    assert!(out.curve.iter().all(|p| p.success_rate.is_some_and(|s| (0.0..=1.0).contains(&s))), "{:?}", out.curve);
    eprintln!(
        "held-out action mse: {} after {} steps, {} after {}",
        first.heldout_action_mse, first.sgd_steps, last.heldout_action_mse, last.sgd_steps
    );
    assert_eq!(last.sgd_steps, 400);
    assert!(last.heldout_action_mse < 0.2 * first.heldout_action_mse, "the error barely fell: {first:?} → {last:?}");
    assert!(last.heldout_action_mse < 0.01, "held-out action mse {} ≥ 0.01", last.heldout_action_mse);
    let s = &out.student.cfg;
    assert_eq!((s.actor_depth, s.critic_depth, s.width), (4, 0, 32));
    assert!(s.parent.as_deref().is_some_and(|p| p.ends_with("teacher.safetensors")), "{:?}", s.parent);
    assert_eq!(out.teacher_eval.episodes, 8);

    let bc =
        distill(&DistillConfig { method: distill::config::Method::Bc, ..tiny(dir.path(), 32) }, &t, |_| {}).unwrap();
    let report =
        distill::report::Report::new(&cfg, "point_u_maze", &t.model, &out, None).unwrap().with_comparison("bc", &bc);
    report.write(dir.path()).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(json["student_cost"]["actor_depth"], 4);
    assert_eq!(json["teacher_cost"]["actor_depth"], 8);
    // Teacher depth 8 vs student depth 4 at the same width: roughly half the FLOPs per action.
    let flops = |k: &str| json[k]["flops_per_action"].as_f64().unwrap();
    let ratio = flops("teacher_cost") / flops("student_cost");
    assert!((1.6..2.0).contains(&ratio), "FLOPs ratio {ratio}");
    assert_eq!(json["comparison"]["method"], "bc");
    assert_eq!(json["curve"][0]["labelled"], json["comparison"]["curve"][0]["labelled"], "equal labels per round");
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("Retention") && md.contains("dagger against bc"), "{md}");
    assert_eq!(md, report.markdown());
    let text = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    assert_eq!(text, serde_json::to_string_pretty(&report).unwrap(), "report.json is this report");
    assert!(std::fs::read(dir.path().join("report.png")).unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
}

#[test]
fn the_students_onnx_export_matches_candle() {
    let dir = tempfile::tempdir().unwrap();
    let t = teacher(dir.path());
    let out = distill(&tiny(dir.path(), 32), &t, |_| {}).unwrap();
    let path = dir.path().join("student.onnx");
    models::onnx::export_actor(&out.student, &path).unwrap();
    let cfg = &out.student.cfg;
    let rows = 5;
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let state: Vec<f32> = (0..rows * cfg.state_dim).map(|_| rng.random_range(-8.0f32..8.0)).collect();
    let goal: Vec<f32> = (0..rows * cfg.goal_dim).map(|_| rng.random_range(-8.0f32..8.0)).collect();
    let plan = tract_onnx::onnx().model_for_path(&path).unwrap().into_optimized().unwrap().into_runnable().unwrap();
    let s = TTensor::from_shape(&[rows, cfg.state_dim], &state).unwrap();
    let g = TTensor::from_shape(&[rows, cfg.goal_dim], &goal).unwrap();
    let got = plan.run(tvec!(s.into_tvalue(), g.into_tvalue())).unwrap();
    let action: Vec<f32> = got[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect();

    let net = CandleModel::from_model(&out.student, &Device::Cpu, DType::F32).unwrap();
    let obs = Tensor::cat(
        &[
            &Tensor::from_slice(&state, (rows, cfg.state_dim), &Device::Cpu).unwrap(),
            &Tensor::from_slice(&goal, (rows, cfg.goal_dim), &Device::Cpu).unwrap(),
        ],
        1,
    )
    .unwrap();
    let want = net.actor(&obs).unwrap().0.tanh().unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let err = action.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(err <= 1e-5, "ONNX and candle differ by {err}");
}

#[test]
fn bad_teachers_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = Teacher::load(dir.path()).err().unwrap().to_string();
    assert!(e.contains("no teacher.safetensors"), "{e}");
    let missing = dir.path().join("nope.safetensors");
    let e = format!("{:#}", Teacher::load(&missing).err().unwrap());
    assert!(e.contains("does not exist"), "{e}");
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    let e = format!("{:#}", Teacher::load(&junk).err().unwrap());
    assert!(e.contains("junk.safetensors"), "{e}");

    let t = teacher(dir.path());
    let cfg = DistillConfig { env: Some("reacher".into()), ..tiny(dir.path(), 8) };
    let e = distill(&cfg, &t, |_| {}).err().unwrap().to_string();
    assert!(e.contains("pick a matching --env"), "{e}");

    // A student (actor only) as the teacher of a critic.
    let mut actor_only = ModelConfig::point_maze(4).with_width(16);
    actor_only.critic_depth = 0;
    let path = dir.path().join("student.safetensors");
    models::checkpoint::save(&Model::init(&actor_only, 0).unwrap(), &path).unwrap();
    let cfg = DistillConfig { critic: true, ..tiny(dir.path(), 8) };
    let e = distill(&cfg, &Teacher::load(&path).unwrap(), |_| {}).err().unwrap().to_string();
    assert!(e.contains("has none"), "{e}");
}

#[test]
fn the_baseline_is_the_students_size_trained_with_the_teachers_recipe() {
    let dir = tempfile::tempdir().unwrap();
    let run = TrainConfig { depth: 8, ..TrainConfig::tiny(800) };
    train::run::train(&run, dir.path(), false, ()).unwrap();
    let t = Teacher::load(dir.path()).unwrap();
    let cfg = tiny(dir.path(), 32);
    let (model, report) = distill::baseline::train_baseline(&t, &cfg, &dir.path().join("baseline")).unwrap();
    assert_eq!((model.cfg.actor_depth, model.cfg.critic_depth, model.cfg.width), (4, 4, 32));
    assert_eq!(report.episodes, 8);
    assert_eq!(report.episode_length, 50, "evaluated with the teacher's episode length");
    let b = TrainConfig::from_toml_file(&dir.path().join("baseline/config.toml")).unwrap();
    assert_eq!((b.total_env_steps, b.episode_length, b.seed), (800, 50, cfg.seed), "the teacher's budget");

    // A student directory finds the run through its checkpoint's parent.
    let students = dir.path().join("students/d4");
    std::fs::create_dir_all(&students).unwrap();
    let mut student = model.clone();
    student.cfg.parent = Some(dir.path().join("teacher.safetensors").display().to_string());
    models::checkpoint::save(&student, &students.join("student.safetensors")).unwrap();
    let s = Teacher::load(&students).unwrap();
    assert_eq!(s.run_dir.as_deref(), Some(dir.path()));
    assert_eq!(s.episode_length(), 50);

    // A checkpoint away from its run has no recipe to copy.
    let away = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("teacher.safetensors"), away.path().join("t.safetensors")).unwrap();
    let bare = Teacher::load(&away.path().join("t.safetensors")).unwrap();
    let e = distill::baseline::baseline_config(&bare, &cfg).unwrap_err().to_string();
    assert!(e.contains("--no-baseline"), "{e}");
}

#[test]
fn the_critic_is_distilled_too_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let t = teacher(dir.path());
    let cfg = DistillConfig { critic: true, ..tiny(dir.path(), 400) };
    let out = distill(&cfg, &t, |_| {}).unwrap();
    let c = |p: &distill::run::CurvePoint| p.critic_loss.expect("critic loss recorded");
    let (first, last) = (c(&out.curve[0]), c(out.curve.last().unwrap()));
    eprintln!("critic distillation loss {first} -> {last}");
    assert!(last < 0.3 * first, "critic distillation loss {first} -> {last}");
    assert_eq!((out.student.cfg.actor_depth, out.student.cfg.critic_depth), (4, 4));
    assert!(out.student.layout.spec("critic.g.out.weight").is_some());
}
