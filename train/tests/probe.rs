//! `--probe-every`: probe.jsonl holds one row per N SGD steps, survives a resume without duplicate
//! or orphaned rows, and is refused where the probe cannot read the step.

mod common;

use std::io::Write;

use common::temp_dir;
use train::config::{Backend, TrainConfig};
use train::probe;

fn steps(dir: &std::path::Path) -> Vec<u64> {
    probe::read(&dir.join(probe::FILE)).unwrap().iter().map(|r| r.sgd_steps).collect()
}

#[test]
fn rows_every_n_steps_and_a_resume_takes_up_where_the_checkpoint_was() {
    let dir = temp_dir("probe-run");
    let cfg = TrainConfig { probe_every: 3, ..TrainConfig::tiny(1_200) };
    let first = train::run::train(&cfg, &dir, false, |_: &train::metrics::Metrics| {}).unwrap();
    let sgd = first.final_metrics.sgd_steps;
    assert_eq!(steps(&dir), (1..=sgd / 3).map(|i| 3 * i).collect::<Vec<_>>());
    let rows = probe::read(&dir.join(probe::FILE)).unwrap();
    assert!(rows.iter().all(|r| r.probe.stream_rms.len() == cfg.depth / 4 + 1 && r.alpha > 0.0));

    // What a killed run leaves: a row past its last checkpoint, and half a line.
    let mut f = std::fs::OpenOptions::new().append(true).open(dir.join(probe::FILE)).unwrap();
    let orphan = serde_json::to_string(&probe::ProbeRow { sgd_steps: sgd + 3, ..rows[0].clone() }).unwrap();
    write!(f, "{orphan}\n{{\"sgd_steps\": 9").unwrap();
    drop(f);
    let cfg = TrainConfig { total_env_steps: 2_000, ..cfg };
    let second = train::run::train(&cfg, &dir, true, |_: &train::metrics::Metrics| {}).unwrap();
    let total = second.final_metrics.sgd_steps;
    assert!(total > sgd);
    assert_eq!(steps(&dir), (1..=total / 3).map(|i| 3 * i).collect::<Vec<_>>(), "each step once, in order");
}

#[test]
fn a_backend_the_probe_cannot_read_is_refused_before_the_run_starts() {
    let dir = temp_dir("probe-candle");
    let cfg = TrainConfig { probe_every: 1, backend: Backend::Candle, ..TrainConfig::tiny(800) };
    let err = train::run::train(&cfg, &dir, false, |_: &train::metrics::Metrics| {}).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("--probe-every") && msg.contains("--backend auto"), "{msg}");
    assert!(!dir.join("metrics.jsonl").exists() && !dir.join(probe::FILE).exists());
}
