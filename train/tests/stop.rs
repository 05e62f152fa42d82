//! Ending a run before its env-step budget: the stop rule (`--stop-at-success X --patience K`) and
//! `--time-budget`, each with a final evaluation and checkpoint, and what `--resume` does after.

mod common;

use common::temp_dir;
use train::config::TrainConfig;
use train::run::Stopped;

#[test]
fn the_stop_rule_ends_a_run_whose_success_holds_and_patience_0_trains_on() {
    let dir = temp_dir("stop-rule");
    // Every evaluation is "at or above 0" here, so the rule fires at the second one.
    let cfg = TrainConfig { stop_at_success: 0.0, patience: 2, ..TrainConfig::tiny(4_000) };
    let s = train::run::train(&cfg, &dir, false, ()).unwrap();
    assert_eq!(s.stopped, Stopped::Success { at_or_above: 0.0, evaluations: 2 });
    assert_eq!(s.final_metrics.env_steps, 800, "evaluations at 400 (after the prefill) and 800");
    for file in ["teacher.safetensors", "bank.safetensors", "eval.json", "train_state.safetensors"] {
        assert!(dir.join(file).is_file(), "{file} is written when the rule stops the run");
    }
    let rows = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap().lines().count();
    assert_eq!(rows, 2);

    // The streak goes on across a resume: one more evaluation and it stops again.
    let again = train::run::train(&cfg, &dir, true, ()).unwrap();
    assert_eq!(again.stopped, Stopped::Success { at_or_above: 0.0, evaluations: 3 });
    assert_eq!(again.final_metrics.env_steps, 1_200);
    // --patience 0 turns the rule off: the run trains its whole budget.
    let on = TrainConfig { patience: 0, ..TrainConfig::tiny(2_000) };
    let done = train::run::train(&on, &dir, true, ()).unwrap();
    assert_eq!(done.stopped, Stopped::Budget);
    assert!(done.final_metrics.env_steps >= 2_000);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_time_budget_ends_the_run_with_a_final_evaluation_and_checkpoint() {
    let dir = temp_dir("time-budget");
    let cfg = TrainConfig { time_budget: Some(0.0), ..TrainConfig::tiny(100_000) };
    let s = train::run::train(&cfg, &dir, false, ()).unwrap();
    assert_eq!(s.stopped, Stopped::Time { budget_s: 0.0 });
    assert!(s.final_metrics.env_steps < 100_000);
    assert!(dir.join("teacher.safetensors").is_file() && dir.join("eval.json").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stop_settings_out_of_range_are_refused() {
    for (cfg, want) in [
        (TrainConfig { stop_at_success: 1.5, ..TrainConfig::default() }, "--stop-at-success 1.5"),
        (TrainConfig { time_budget: Some(-1.0), ..TrainConfig::default() }, "--time-budget"),
        (TrainConfig { time_budget: Some(f64::NAN), ..TrainConfig::default() }, "--time-budget"),
    ] {
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
}
