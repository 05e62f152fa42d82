//! `--resume` continues a run from its last checkpoint, also after the process was killed with
//! SIGKILL at an arbitrary moment, and never leaves a file that fails to load.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::temp_dir;
use train::config::TrainConfig;

/// Starts the `train` binary on `config` in `out` and returns once `ready(out)` holds: the moment of
/// a kill is chosen by what the run has written, not by the clock, so each kill lands in the same
/// phase of the run on a fast or a slow machine.
fn spawn_until(config: &Path, out: &Path, resume: bool, ready: impl Fn(&Path) -> bool) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_train"))
        .args(["--config", config.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(if resume { vec!["--resume"] } else { vec![] })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !ready(out) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before the moment it was to be killed");
        assert!(t.elapsed() < Duration::from_secs(120), "the run never reached the moment to kill it");
        std::thread::sleep(Duration::from_millis(2));
    }
    child
}

/// Lines in metrics.jsonl (one per evaluation, each followed by a checkpoint).
fn evaluations(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("metrics.jsonl")).map(|t| t.lines().count()).unwrap_or(0)
}

/// (env_steps, sgd_steps) of every line of metrics.jsonl; every line must parse.
fn metrics(dir: &Path) -> Vec<(u64, u64)> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad metrics line {l:?}: {e}"));
            (v["env_steps"].as_u64().unwrap(), v["sgd_steps"].as_u64().unwrap())
        })
        .collect()
}

/// Both files load. A kill between the two writes of an evaluation can leave the teacher one step
/// ahead of the train state (which is what a resume uses), so they must agree only after a run that
/// ended normally.
fn assert_loadable(dir: &Path) {
    models::checkpoint::load(&dir.join("teacher.safetensors")).unwrap();
    train::state::load(&dir.join("train_state.safetensors")).unwrap();
}

fn assert_consistent(dir: &Path) {
    let model = models::checkpoint::load(&dir.join("teacher.safetensors")).unwrap();
    let state = train::state::load(&dir.join("train_state.safetensors")).unwrap();
    assert_eq!(model.params, state.model.params, "teacher and train state are from different steps");
}

#[test]
fn resume_continues_where_the_run_stopped() {
    let dir = temp_dir("resume");
    let first = train::run::train(&TrainConfig::tiny(1_200), &dir, false, ()).unwrap().final_metrics;
    let again = train::run::train(&TrainConfig::tiny(2_400), &dir, true, ()).unwrap().final_metrics;
    assert!(again.env_steps >= 2_400 && again.sgd_steps > first.sgd_steps);
    let m = metrics(&dir);
    assert!(m.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1 >= w[0].1), "metrics went backwards: {m:?}");
    let restored = train::state::load(&dir.join("train_state.safetensors")).unwrap();
    assert_eq!(restored.counters.sgd_steps, again.sgd_steps);
    assert_eq!(restored.adam_t, again.sgd_steps, "Adam's step counts every update across the resume");
    assert!(again.wall_s >= first.wall_s, "wall time restarted at the resume");
    assert_consistent(&dir);
    let recorded = TrainConfig::from_toml_file(&dir.join("config.toml")).unwrap();
    assert_eq!(recorded.total_env_steps, 2_400, "config.toml should record the resumed run's budget");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_without_a_run_is_a_clear_error() {
    let dir = temp_dir("noresume");
    let e = train::run::train(&TrainConfig::tiny(800), &dir, true, ()).unwrap_err().to_string();
    assert!(e.contains("nothing to resume") && e.contains("without --resume"), "{e}");
}

#[test]
fn sigkill_at_any_moment_then_resume_completes() {
    let dir = temp_dir("sigkill");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("tiny.toml");
    std::fs::write(&config, TrainConfig::tiny(6_000).to_toml().unwrap()).unwrap();
    let bin = env!("CARGO_BIN_EXE_train");
    let out = dir.join("run");
    // Kill three times: as soon as the first checkpoint exists, then each time the resumed run has
    // written one more evaluation than it found (so somewhere between that evaluation's line and the
    // end of its checkpoint, or later).
    let mut child = spawn_until(&config, &out, false, |o| o.join("train_state.safetensors").exists());
    for _ in 0..3 {
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        assert_loadable(&out);
        let seen = evaluations(&out);
        if seen >= 3 {
            break;
        }
        child = spawn_until(&config, &out, true, |o| evaluations(o) > seen);
    }
    let status = Command::new(bin)
        .args(["--config", config.to_str().unwrap(), "--out", out.to_str().unwrap(), "--resume"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the resumed run failed");
    assert_consistent(&out);
    let m = metrics(&out);
    assert!(m.last().unwrap().0 >= 6_000, "the run did not reach its budget: {m:?}");
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind: {leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ctrl_c_saves_a_resumable_checkpoint_and_exits_130() {
    let dir = temp_dir("sigint");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("tiny.toml");
    // A budget large enough that the interrupt lands mid-run.
    std::fs::write(&config, TrainConfig::tiny(400_000).to_toml().unwrap()).unwrap();
    let out = dir.join("run");
    // The interrupt arrives once the first checkpoint exists: mid-run, whatever the machine's speed.
    let child = spawn_until(&config, &out, false, |o| o.join("train_state.safetensors").exists());
    let before = train::state::load(&out.join("train_state.safetensors")).unwrap().counters;
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "Ctrl-C should exit with 130");
    let saved = train::state::load(&out.join("train_state.safetensors")).unwrap().counters;
    assert!(saved.env_steps >= before.env_steps, "the interrupt's checkpoint went backwards ({before:?} -> {saved:?})");
    assert!(saved.env_steps < 400_000, "the run finished before the interrupt");
    assert_consistent(&out);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Parameters, both Adam moments, Adam's step and the sampler's position of a run's last checkpoint.
fn final_state(dir: &Path) -> (Vec<u32>, Vec<u32>, Vec<u32>, u64, u128) {
    let s = train::state::load(&dir.join("train_state.safetensors")).unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    (bits(&s.model.params), bits(&s.adam_m), bits(&s.adam_v), s.adam_t, s.rng_word_pos)
}

#[test]
fn with_save_replay_a_stopped_and_resumed_run_matches_an_uninterrupted_one_bit_for_bit() {
    let cfg = |total, save_replay| TrainConfig { save_replay, ..TrainConfig::tiny(total) };
    let (whole, halves, plain) = (temp_dir("exact-whole"), temp_dir("exact-halves"), temp_dir("exact-plain"));
    train::run::train(&cfg(2_400, true), &whole, false, ()).unwrap();
    train::run::train(&cfg(1_200, true), &halves, false, ()).unwrap();
    assert!(halves.join("collection.safetensors").is_file() && !halves.join("collection.next.safetensors").exists());
    train::run::train(&cfg(2_400, true), &halves, true, ()).unwrap();
    assert!(final_state(&whole) == final_state(&halves), "parameters, Adam moments or the sampler differ");
    let later = |d: &Path| metrics(d).into_iter().filter(|m| m.0 > 1_200).collect::<Vec<_>>();
    assert_eq!(later(&whole), later(&halves));

    // Without the snapshot the resumed run refills its replay with fresh episodes and drifts: the
    // comparison above is not one that any resume would pass.
    train::run::train(&cfg(1_200, false), &plain, false, ()).unwrap();
    train::run::train(&cfg(2_400, false), &plain, true, ()).unwrap();
    assert!(final_state(&whole).0 != final_state(&plain).0, "a plain resume matched bit for bit");
}

#[test]
fn with_save_replay_a_killed_and_resumed_binary_run_matches_an_uninterrupted_one() {
    let dir = temp_dir("exact-kill");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = TrainConfig { save_replay: true, ..TrainConfig::tiny(4_000) };
    let config = dir.join("tiny.toml");
    std::fs::write(&config, cfg.to_toml().unwrap()).unwrap();
    let whole = dir.join("whole");
    train::run::train(&cfg, &whole, false, ()).unwrap();
    // Killed twice, each time once a further evaluation has been written (mid-checkpoint or later).
    let out = dir.join("run");
    let mut child = spawn_until(&config, &out, false, |o| evaluations(o) >= 2);
    for _ in 0..2 {
        child.kill().unwrap();
        child.wait().unwrap();
        let seen = evaluations(&out);
        child = spawn_until(&config, &out, true, |o| evaluations(o) > seen);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_train"))
        .args(["--config", config.to_str().unwrap(), "--out", out.to_str().unwrap(), "--resume"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(final_state(&whole) == final_state(&out), "the killed and resumed run drifted from the uninterrupted one");
    std::fs::remove_dir_all(&dir).unwrap();
}
