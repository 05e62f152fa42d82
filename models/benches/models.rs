//! `cargo bench -p models`: one full CRL update (actor + α + critic, Adam) at width 256, batch 256,
//! and batch-1 deterministic actor inference through the serving path.
//!
//! Pin threads for comparable numbers: `RAYON_NUM_THREADS=2 cargo bench -p models`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use models::fast::FastTrainer;
use models::infer::ActorInfer;
use models::{AdamConfig, Model, ModelConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BATCH: usize = 256;

fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(2)
}

fn random(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn crl_update(c: &mut Criterion) {
    let mut group = c.benchmark_group("crl_update_w256_b256");
    group.sample_size(10);
    for depth in [4usize, 16, 64] {
        let cfg = ModelConfig::point_maze(depth);
        let model = Model::init(&cfg, 0).unwrap();
        let mut trainer = FastTrainer::new(model, AdamConfig::default(), threads()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (s, a, g, e) = (
            random(BATCH * 4, &mut rng),
            random(BATCH * 2, &mut rng),
            random(BATCH * 2, &mut rng),
            random(BATCH * 2, &mut rng),
        );
        let batch = models::CrlBatch { states: &s, actions: &a, goals: &g, noise: &e };
        group.bench_function(BenchmarkId::new("depth", depth), |b| b.iter(|| trainer.step(&batch).unwrap()));
    }
    group.finish();
}

fn actor_batch1(c: &mut Criterion) {
    let mut group = c.benchmark_group("actor_batch1_w256");
    for depth in [8usize, 64] {
        let cfg = ModelConfig { critic_depth: 0, ..ModelConfig::point_maze(depth) };
        let model = Model::init(&cfg, 0).unwrap();
        let mut actor = ActorInfer::new(&model);
        let (s, g) = ([0.5f32, -0.5, 0.1, 0.0], [4.0f32, 4.0]);
        group.bench_function(BenchmarkId::new("depth", depth), |b| b.iter(|| actor.act(&s, &g).unwrap()[0]));
    }
    group.finish();
}

criterion_group!(benches, crl_update, actor_batch1);
criterion_main!(benches);
