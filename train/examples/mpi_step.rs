//! Under MPI, N ranks holding B rows each compute the update of one process with the whole batch:
//! gradients, statistics, Adam's moments and the parameters after three steps, within 1e-5
//! (relative to each buffer's largest value), and every rank ends with rank 0's parameters, bit for
//! bit. Rank 0 also runs the single process and compares; exit 1 on a mismatch.
//!
//!   mpirun -np 2 target/release/examples/mpi_step      (scripts/mpi-test.sh)

use std::process::ExitCode;

use models::collective::{Collective, Solo};
use models::fast::FastTrainer;
use models::{AdamConfig, CrlBatch, CrlStats, Model, ModelConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use train::mpi_comm::MpiComm;
use train::ranks::Ranks;

const PER_RANK: usize = 16;
const STEPS: usize = 3;

/// Rows of a batch, one buffer per field: states, actions, goals, noise.
fn batch(cfg: &ModelConfig, rows: usize, seed: u64) -> [Vec<f32>; 4] {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dims = [cfg.state_dim, cfg.action_dim, cfg.goal_dim, cfg.action_dim];
    dims.map(|d| (0..rows * d).map(|_| rng.random_range(-1.0f32..1.0)).collect())
}

fn rows_of(b: &[Vec<f32>; 4], cfg: &ModelConfig, rank: usize) -> [Vec<f32>; 4] {
    let dims = [cfg.state_dim, cfg.action_dim, cfg.goal_dim, cfg.action_dim];
    std::array::from_fn(|k| b[k][rank * PER_RANK * dims[k]..(rank + 1) * PER_RANK * dims[k]].to_vec())
}

fn train(model: &Model, batches: &[[Vec<f32>; 4]], comm: &mut dyn Collective) -> (FastTrainer, Vec<CrlStats>) {
    let mut t = FastTrainer::new(model.clone(), AdamConfig { lr: 1e-3, ..AdamConfig::default() }, 1).expect("trainer");
    let stats = batches
        .iter()
        .map(|[states, actions, goals, noise]| {
            let b = CrlBatch { states, actions, goals, noise };
            t.step_with(&b, comm).expect("step")
        })
        .collect();
    (t, stats)
}

/// max |a − b| / max |b|.
fn rel(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max) / scale
}

fn main() -> ExitCode {
    let mut comm = match MpiComm::init(120.0) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let (rank, size) = (comm.rank(), comm.size());
    let cfg = ModelConfig::point_maze(4).with_width(32);
    let model = Model::init(&cfg, 5).expect("model");
    let whole: Vec<_> = (0..STEPS).map(|k| batch(&cfg, size * PER_RANK, 70 + k as u64)).collect();
    let mine: Vec<_> = whole.iter().map(|b| rows_of(b, &cfg, rank)).collect();
    let (split, split_stats) = train(&model, &mine, &mut comm);
    let params = split.model.params.clone();
    let mut ranks = Ranks::new(&mut comm);
    let same = ranks.check_params(&params, STEPS as u64);
    if rank > 0 {
        return if same.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    let (one, one_stats) = train(&model, &whole, &mut Solo);
    let errors = [
        ("gradients", rel(&split.grads, &one.grads)),
        ("Adam m", rel(&split.adam.m, &one.adam.m)),
        ("Adam v", rel(&split.adam.v, &one.adam.v)),
        ("parameters", rel(&split.model.params, &one.model.params)),
    ];
    let stat_err = split_stats
        .iter()
        .zip(&one_stats)
        .flat_map(|(a, b)| {
            [(a.critic_loss, b.critic_loss), (a.actor_loss, b.actor_loss), (a.alpha_loss, b.alpha_loss)]
                .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        })
        .fold(0f32, f32::max);
    println!("{size} MPI ranks × {PER_RANK} rows against one process with {} rows, {STEPS} steps:", size * PER_RANK);
    for (what, e) in errors {
        println!("  {what:<11} max relative difference {e:.2e}");
    }
    println!("  statistics  max relative difference {stat_err:.2e}");
    println!("  every rank's parameters equal rank 0's: {}", same.is_ok());
    let ok = errors.iter().all(|(_, e)| *e <= 1e-5) && stat_err <= 1e-5 && same.is_ok();
    println!("{}", if ok { "mpi_step: ok" } else { "mpi_step: MISMATCH" });
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
