//! The data-parallel device step (`DeviceStep::data_parallel`) on the CPU device, its ranks as
//! threads exchanging through host memory: N ranks of B rows compute the update of one device step
//! with the whole batch (statistics, gradients, Adam's moments, parameters), the same on every rank.
//! The same orchestration runs on GPUs with NCCL in the collectives' place.

mod common;

use common::{assert_stats_close, perturbed_model, worst_tensor_error, OwnedBatch};
use kernels::cpu::CpuDevice;
use models::collective::{LocalGroup, Solo};
use models::gpu::collective::HostCollective;
use models::gpu::{DeviceStep, Mode};
use models::{AdamConfig, CrlStats, ModelConfig};

struct After {
    stats: Vec<CrlStats>,
    grads: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    params: Vec<f32>,
}

fn run(mut step: DeviceStep<CpuDevice>, batches: &[OwnedBatch]) -> After {
    let stats = batches.iter().map(|b| step.step(&b.view()).unwrap()).collect();
    let grads = step.grads().unwrap();
    let (m, v, _) = step.adam_state().unwrap();
    After { stats, grads, m, v, params: step.model().unwrap().params.clone() }
}

#[test]
fn two_device_ranks_compute_the_device_step_of_the_whole_batch() {
    let cfg = ModelConfig::point_maze(4).with_width(32);
    let model = perturbed_model(&cfg, 3);
    let adam = AdamConfig { lr: 1e-3, ..AdamConfig::default() };
    let (ranks, per_rank) = (2, 12);
    let whole: Vec<_> = (0..2).map(|k| OwnedBatch::random(&cfg, ranks * per_rank, 60 + k)).collect();
    let one =
        run(DeviceStep::new(CpuDevice::new(), model.clone(), adam, ranks * per_rank, Mode::Eager).unwrap(), &whole);

    let split: Vec<After> = std::thread::scope(|s| {
        let handles: Vec<_> = LocalGroup::new(ranks)
            .into_iter()
            .enumerate()
            .map(|(r, comm)| {
                let (model, cfg, whole) = (&model, &cfg, &whole);
                s.spawn(move || {
                    let comm = Box::new(HostCollective::new(comm));
                    let step =
                        DeviceStep::data_parallel(CpuDevice::new(), model.clone(), adam, per_rank, Mode::Eager, comm)
                            .unwrap();
                    let mine: Vec<_> = whole.iter().map(|b| b.rows(cfg, r, per_rank)).collect();
                    run(step, &mine)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    for (k, (a, b)) in split[0].stats.iter().zip(&one.stats).enumerate() {
        assert_stats_close(a, b, 1e-5, &format!("step {k}"));
    }
    for (what, got, want) in [
        ("the last gradients", &split[0].grads, &one.grads),
        ("Adam's first moments", &split[0].m, &one.m),
        ("Adam's second moments", &split[0].v, &one.v),
    ] {
        let (err, name) = worst_tensor_error(&model, got, want);
        eprintln!("{ranks} device ranks × {per_rank} rows: {what} differ by at most {err:e} (relative, in {name})");
        assert!(err <= 1e-5, "{what} of {name} differ by {err:e} (relative)");
    }
    let worst = split[0].params.iter().zip(&one.params).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= 1e-5, "the parameters after 2 steps differ by {worst:e}");
    assert!(split[1].params == split[0].params, "rank 1's parameters differ from rank 0's");
}

#[test]
fn a_graph_over_host_collectives_is_refused() {
    let cfg = ModelConfig::point_maze(4).with_width(32);
    let model = perturbed_model(&cfg, 3);
    let comm = Box::new(HostCollective::new(Solo));
    let e = DeviceStep::data_parallel(CpuDevice::new(), model, AdamConfig::default(), 8, Mode::Graph, comm);
    let e = e.err().unwrap().to_string();
    assert!(e.contains("cannot be captured") && e.contains("--gpu-eager"), "{e}");
}
