//! Data-parallel training is exact: N ranks holding B rows each compute the update of one process
//! with the whole batch of N·B (gradients, statistics, Adam's moments and the parameters after
//! several steps), and every rank ends with the same parameters, bit for bit.

mod common;

use common::{assert_stats_close, perturbed_model, worst_tensor_error, OwnedBatch};
use models::collective::{Collective, LocalGroup, Solo};
use models::fast::FastTrainer;
use models::{AdamConfig, CrlStats, Model, ModelConfig};

/// What a trainer looks like after its steps: the last gradients and statistics, Adam, parameters.
struct After {
    grads: Vec<f32>,
    stats: Vec<CrlStats>,
    m: Vec<f32>,
    v: Vec<f32>,
    params: Vec<f32>,
}

fn train(model: &Model, batches: &[OwnedBatch], threads: usize, comm: &mut dyn Collective) -> After {
    let mut t = FastTrainer::new(model.clone(), AdamConfig { lr: 1e-3, ..AdamConfig::default() }, threads).unwrap();
    let stats = batches.iter().map(|b| t.step_with(&b.view(), comm).unwrap()).collect();
    After { grads: t.grads, stats, m: t.adam.m, v: t.adam.v, params: t.model.params }
}

fn check(ranks: usize, per_rank: usize, threads: usize) {
    let cfg = ModelConfig::point_maze(4).with_width(32);
    let model = perturbed_model(&cfg, 3);
    let n = ranks * per_rank;
    let whole: Vec<_> = (0..3).map(|k| OwnedBatch::random(&cfg, n, 40 + k)).collect();
    let one = train(&model, &whole, threads, &mut Solo);

    let split: Vec<After> = std::thread::scope(|s| {
        let handles: Vec<_> = LocalGroup::new(ranks)
            .into_iter()
            .map(|mut comm| {
                let (model, cfg, whole) = (&model, &cfg, &whole);
                s.spawn(move || {
                    let mine: Vec<_> = whole.iter().map(|b| b.rows(cfg, comm.rank(), per_rank)).collect();
                    train(model, &mine, threads, &mut comm)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let at = format!("{ranks} ranks × {per_rank} rows against one process with {n}");
    for (k, (a, b)) in split[0].stats.iter().zip(&one.stats).enumerate() {
        assert_stats_close(a, b, 1e-5, &format!("{at}, step {k}"));
    }
    for (what, got, want) in [
        ("the last gradients", &split[0].grads, &one.grads),
        ("Adam's first moments", &split[0].m, &one.m),
        ("Adam's second moments", &split[0].v, &one.v),
    ] {
        let (err, name) = worst_tensor_error(&model, got, want);
        eprintln!("{at}: {what} differ by at most {err:e} (relative, in {name})");
        assert!(err <= 1e-5, "{at}: {what} of {name} differ by {err:e} (relative)");
    }
    let worst = split[0].params.iter().zip(&one.params).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= 1e-5, "{at}: the parameters after 3 steps differ by {worst:e}");
    for (r, other) in split.iter().enumerate().skip(1) {
        assert!(other.params == split[0].params, "rank {r}'s parameters differ from rank 0's");
        assert!(other.stats == split[0].stats, "rank {r} reports other statistics than rank 0");
    }
}

#[test]
fn two_ranks_compute_the_update_of_one_process_with_both_batches() {
    check(2, 16, 1);
}

#[test]
fn three_ranks_with_two_threads_each_compute_the_whole_batch_update() {
    check(3, 5, 2);
}
