//! Environment throughput (DESIGN.md section 9): one batched `step` of `point_big_maze` and
//! `reacher` at 1, 256 and 4096 parallel environments, and with the `mujoco` feature of `ant` and
//! `humanoid` at 1, 64 and 1024, reported as environment steps per second (criterion throughput
//! elements = num_envs per iteration).
//!
//! `RAYON_NUM_THREADS=2 cargo bench -p envs --bench envs -- --warm-up-time 1 --measurement-time 3`
//! `source .tools/mujoco/env.sh && RAYON_NUM_THREADS=2 cargo bench -p envs --features mujoco --bench envs -- robot`
//!
//! With the `gym` feature, Gymnasium-Robotics' PointMaze_UMaze-v3 and AntMaze_UMaze-v5 through the
//! bridge at 1, 16 and 64 (their registered episode lengths); scripts/gym-speed.sh runs these beside
//! the same vector env stepped from Python alone and prints the ratio.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use envs::eval::Policy;
use envs::policies::RandomPolicy;
use envs::{env_episode_length, make_with, EnvOptions};

fn bench_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("env_step");
    let mut cases: Vec<(&str, [usize; 3])> = vec![("point_big_maze", [1, 256, 4096]), ("reacher", [1, 256, 4096])];
    if cfg!(feature = "mujoco") {
        cases.extend([("robot/ant", [1, 64, 1024]), ("robot/humanoid", [1, 64, 1024])]);
    }
    if cfg!(feature = "gym") {
        cases.extend([("gym/PointMaze_UMaze-v3", [1, 16, 64]), ("gym/AntMaze_UMaze-v5", [1, 16, 64])]);
    }
    for (label, sizes) in cases {
        let name = label.trim_start_matches("robot/").replacen("gym/", "gym:", 1);
        // Episodes of 1000 steps (a Gymnasium env's registered length): resets happen inside the
        // measurement at their natural rate.
        let opts = EnvOptions {
            episode_length: env_episode_length(&name).expect("registered environment"),
            ..EnvOptions::default()
        };
        for num_envs in sizes {
            let mut env = make_with(&name, num_envs, 0, &opts).expect("registered environment");
            let a_dim = env.spec().action_dim;
            // A fixed pool of random actions, cycled so that no RNG cost is timed.
            let pool = 16;
            let mut actions = vec![0f32; pool * num_envs * a_dim];
            RandomPolicy::new(a_dim, 1).act(&[], pool * num_envs, &mut actions).expect("action buffer sized");
            let mut k = 0;
            group.throughput(Throughput::Elements(num_envs as u64));
            group.bench_with_input(BenchmarkId::new(label, num_envs), &num_envs, |b, &n| {
                b.iter(|| {
                    let chunk = &actions[k * n * a_dim..(k + 1) * n * a_dim];
                    k = (k + 1) % pool;
                    env.step(chunk).expect("valid actions").len()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_step);
criterion_main!(benches);
