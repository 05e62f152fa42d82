//! The `distill` binary end to end on a tiny trained teacher: flags and a config file in, a student and
//! a report out that agree with the run; bad flags exit 2 before anything is written.

use std::process::Command;

use train::config::TrainConfig;

fn distill(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_distill")).args(args).env("RUST_LOG", "warn").output().unwrap()
}

#[test]
fn the_binary_writes_a_student_and_a_report_that_match_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train::run::train(&TrainConfig { depth: 8, ..TrainConfig::tiny(800) }, &run, false, ()).unwrap();
    let config = dir.path().join("distill.toml");
    std::fs::write(&config, "batch_size = 32\nnum_envs = 8\nunroll_length = 8\nsgd_steps_per_round = 8\nsteps = 99\n")
        .unwrap();
    let teacher = run.to_str().unwrap();
    let args = ["--teacher", teacher, "--student-depth", "4", "--student-width", "16", "--steps", "24"];
    let quick = ["--eval-episodes", "4", "--curve-eval-episodes", "0", "--no-baseline"];
    let out = distill(&[&args[..], &quick[..], &["--config", config.to_str().unwrap()]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let student_dir = run.join("students/d4-dagger");
    assert!(stdout.contains(&format!("student: {}", student_dir.display())), "{stdout}");

    let student = models::checkpoint::load(&student_dir.join("student.safetensors")).unwrap();
    let t = models::checkpoint::load(&run.join("teacher.safetensors")).unwrap();
    assert_eq!((student.cfg.actor_depth, student.cfg.critic_depth, student.cfg.width), (4, 0, 16));
    assert_eq!(student.cfg.parent.as_deref(), Some(run.join("teacher.safetensors").to_str().unwrap()));
    assert!(student_dir.join("student.onnx").is_file() && student_dir.join("report.png").is_file());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(student_dir.join("report.json")).unwrap()).unwrap();
    let c = &report["config"];
    assert_eq!((c["steps"].as_u64(), c["batch_size"].as_u64()), (Some(24), Some(32)), "flag over file over default");
    assert_eq!(c["method"], "dagger");
    assert_eq!(report["env"], t.cfg.env);
    assert_eq!(report["teacher_cost"]["actor_depth"].as_u64(), Some(t.cfg.actor_depth as u64));
    assert_eq!(report["student_cost"]["actor_parameters"].as_u64(), Some(student.layout.actor.range.len() as u64));
    assert_eq!(report["teacher"]["episodes"].as_u64(), Some(4));
    assert!(report["baseline"].is_null(), "--no-baseline");
    let md = std::fs::read_to_string(student_dir.join("report.md")).unwrap();
    assert!(stdout.contains(md.lines().next().unwrap()), "the summary printed is the report's");
}

#[test]
fn bad_flags_exit_2_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let teacher = dir.path().join("run");
    for bad in [&["--student-depth", "6"][..], &["--method", "magic"], &["--lr", "-1"]] {
        let out = distill(&[&["--teacher", teacher.to_str().unwrap()][..], bad].concat());
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = distill(&["--teacher", teacher.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "a missing teacher is a run-time failure");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not exist"));
    assert_eq!(buildinfo::warned(&stderr), cfg!(debug_assertions), "a debug build says so, a release build does not");
    assert!(!teacher.exists(), "nothing was created");
}
