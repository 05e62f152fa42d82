//! A data-parallel job's loop, with its ranks as threads of this process (`LocalGroup`; MPI runs the
//! same loop, `scripts/mpi-test.sh`): rank 0 alone records the run, the counters are the whole
//! job's, every rank stops together, the job resumes, and ranks started differently are refused.

mod common;

use std::path::Path;

use common::temp_dir;
use models::collective::LocalGroup;
use train::config::TrainConfig;
use train::run::{train_ranks, Stopped, Summary};

/// Runs one thread per config as the ranks of one job in `out`.
fn job(cfgs: &[TrainConfig], out: &Path, resume: bool) -> Vec<train::error::Result<Summary>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = LocalGroup::new(cfgs.len())
            .into_iter()
            .zip(cfgs)
            .map(|(mut comm, cfg)| s.spawn(move || train_ranks(cfg, out, resume, (), &mut comm)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn rows(out: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn two_ranks_train_one_job_that_rank_0_records_and_both_resume() {
    let out = temp_dir("two-ranks");
    let cfg = TrainConfig::tiny(1_600);
    let results = job(&[cfg.clone(), cfg.clone()], &out, false);
    let [first, second] = &results[..] else { unreachable!() };
    let (root, other) = (first.as_ref().unwrap(), second.as_ref().unwrap());
    assert_eq!((root.stopped, other.stopped), (Stopped::Budget, Stopped::Budget));
    // Each rank prefilled its replay with 400 steps (5 rounds of 8 envs × 10) and then collected 160
    // a round for the job: the counters are the job's.
    let steps: Vec<u64> = rows(&out).iter().map(|r| r["env_steps"].as_u64().unwrap()).collect();
    assert_eq!(steps, [800, 1_280, 1_600]);
    assert_eq!(root.final_metrics.env_steps, 1_600);
    assert_eq!(root.final_metrics.sgd_steps, 5 * 4);
    assert!(root.final_metrics.critic_loss.is_finite());
    assert_eq!(other.final_metrics.env_steps, 0, "only rank 0 evaluates");

    let more = TrainConfig { total_env_steps: 2_400, ..cfg };
    let results = job(&[more.clone(), more], &out, true);
    assert!(results.iter().all(|r| r.as_ref().is_ok_and(|s| s.stopped == Stopped::Budget)), "{results:?}");
    let steps: Vec<u64> = rows(&out).iter().map(|r| r["env_steps"].as_u64().unwrap()).collect();
    assert_eq!(steps, [800, 1_280, 1_600, 2_080, 2_400]);
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn ranks_with_different_configurations_and_unsupported_options_are_refused() {
    let out = temp_dir("ranks-differ");
    let cfg = TrainConfig::tiny(800);
    let results = job(&[cfg.clone(), TrainConfig { seed: 9, ..cfg.clone() }], &out, false);
    for r in &results {
        let e = format!("{:#}", r.as_ref().unwrap_err());
        assert!(e.contains("configuration other than rank 0's") && e.contains("same flags"), "{e}");
    }
    assert!(!out.exists(), "a refused job leaves no run directory");

    let saving = TrainConfig { save_replay: true, ..cfg.clone() };
    for r in job(&[saving.clone(), saving], &out, false) {
        let e = format!("{:#}", r.unwrap_err());
        assert!(e.contains("--save-replay") && e.contains("--distributed"), "{e}");
    }
    let candle = TrainConfig { backend: train::config::Backend::Candle, ..cfg };
    for r in job(&[candle.clone(), candle], &out, false) {
        let e = format!("{:#}", r.unwrap_err());
        assert!(
            e.contains("--backend candle --device cpu is not supported across ranks") && e.contains("--backend auto"),
            "{e}"
        );
    }
}
