//! The hindsight sampler draws the right offsets and never leaves a trajectory.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;

/// χ² of observed counts against P(k) ∝ γᵏ on {1..n}.
fn chi_square(n: usize, gamma: f64, draws: usize, seed: u64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut counts = vec![0usize; n + 1];
    for _ in 0..draws {
        counts[truncated_geometric(n, gamma, &mut rng)] += 1;
    }
    assert_eq!(counts[0], 0, "k = 0 drawn although future steps exist");
    let norm: f64 = (1..=n).map(|k| gamma.powi(k as i32)).sum();
    (1..=n)
        .map(|k| {
            let expected = draws as f64 * gamma.powi(k as i32) / norm;
            (counts[k] as f64 - expected).powi(2) / expected
        })
        .sum()
}

#[test]
fn offsets_follow_the_truncated_geometric_distribution() {
    // 100k draws; critical values of χ² at p = 0.001: 49 dof → 85.4, 19 dof → 43.8.
    let stat = chi_square(50, 0.99, 100_000, 1);
    assert!(stat < 85.4, "n = 50, γ = 0.99: χ² = {stat}");
    let stat = chi_square(20, 0.8, 100_000, 2);
    assert!(stat < 43.8, "n = 20, γ = 0.8: χ² = {stat}");
    // A wrong law fails: uniform offsets on {1..50} are far from γ = 0.9's.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut counts = [0usize; 51];
    for _ in 0..100_000 {
        counts[rng.random_range(1..=50)] += 1;
    }
    let norm: f64 = (1..=50).map(|k| 0.9f64.powi(k)).sum();
    let wrong: f64 = (1..=50)
        .map(|k| {
            let e = 100_000.0 * 0.9f64.powi(k as i32) / norm;
            (counts[k] as f64 - e).powi(2) / e
        })
        .sum();
    assert!(wrong > 1000.0, "the test cannot tell a uniform law from a geometric one ({wrong})");
}

#[test]
fn no_future_steps_means_the_step_itself() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert_eq!(truncated_geometric(0, 0.99, &mut rng), 0);
    assert!((0..1000).all(|_| truncated_geometric(1, 0.99, &mut rng) == 1));
}

/// Fills a replay with `steps` time steps of `num_envs` environments whose episodes last `len`
/// steps; each state's first entry is its time and its second its trajectory id.
fn filled(num_envs: usize, capacity: usize, len: usize, steps: usize) -> Replay {
    let mut r = Replay::new(num_envs, capacity, 3, 1, vec![0, 1], len);
    for time in 0..steps {
        let traj: Vec<u64> = (0..num_envs).map(|e| (e + num_envs * (time / len)) as u64).collect();
        let step: Vec<u32> = vec![(time % len) as u32; num_envs];
        let states: Vec<f32> = (0..num_envs).flat_map(|e| [time as f32, traj[e] as f32, e as f32]).collect();
        r.push(&states, &vec![0.5; num_envs], &traj, &step);
    }
    r
}

#[test]
fn hindsight_goals_stay_inside_their_trajectory() {
    let r = filled(4, 50, 7, 123); // wraps the ring twice; the newest trajectory is unfinished
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut sample = Sample::default();
    let draws = r.sample(20_000, 0.9, &mut rng, &mut sample);
    let mut last_steps = 0;
    for (b, &(time, env, k)) in draws.iter().enumerate() {
        assert!((123 - 50..123).contains(&time), "time {time} is not stored");
        let (id, t) = r.id_at(time, env);
        let (id2, _) = r.id_at(time + k, env);
        assert_eq!(id, id2, "goal crossed from trajectory {id} into {id2}");
        assert!(k <= r.future_steps(time, env));
        if r.future_steps(time, env) == 0 {
            assert_eq!(k, 0);
            last_steps += 1;
        } else {
            assert!(k >= 1);
        }
        // The goal is the (time, traj id) projection of the future state.
        assert_eq!(sample.goals[2 * b], (time + k) as f32);
        assert_eq!(sample.goals[2 * b + 1], id as f32);
        assert_eq!(sample.states[3 * b], time as f32);
        assert!(t < 7);
    }
    assert!(last_steps > 0, "no draw hit a trajectory's last step");
    // The unfinished newest trajectory (times 119..=122) is cut at the newest step.
    assert_eq!(r.future_steps(122, 0), 0);
    assert_eq!(r.future_steps(119, 0), 3);
    assert_eq!(r.future_steps(118, 0), 0); // step 6 of 7: its episode's last
}
