//! Walls are never crossed, trajectories are deterministic, and episodes reset as specified.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::registry::{make_with, EnvOptions};
use crate::vec_env::VecEnv;
use crate::GoalEnv;

/// Smallest distance from the point's centre to any wall box of the layout.
fn clearance(layout: &Layout, pos: [f32; 2]) -> f32 {
    let mut best = f32::INFINITY;
    for i in -1..=layout.rows as i64 {
        for j in -1..=layout.cols as i64 {
            if !layout.is_wall(i, j) {
                continue;
            }
            let (cx, cy, h) = (CELL * i as f32, CELL * j as f32, CELL / 2.0);
            let dx = (pos[0] - cx).abs() - h;
            let dy = (pos[1] - cy).abs() - h;
            let outside = (dx.max(0.0).powi(2) + dy.max(0.0).powi(2)).sqrt();
            let inside = dx.max(dy).min(0.0);
            best = best.min(outside + inside);
        }
    }
    best
}

#[test]
fn walls_are_never_crossed_under_random_and_adversarial_actions() {
    for maze in ["u_maze", "big_maze", "hardest_maze"] {
        let layout = Layout::builtin(maze).unwrap();
        let dynamics = PointMaze::new(maze, layout.clone(), 400, true);
        let n = 64;
        let mut env = VecEnv::new(dynamics, n, 3).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut worst = f32::INFINITY;
        for step in 0..2000 {
            // Phases: uniform random, full force toward a fixed corner, and bang-bang switching.
            let actions: Vec<f32> = (0..n * 2)
                .map(|k| match (step / 250) % 3 {
                    0 => rng.random_range(-1.5..1.5),
                    1 => {
                        if k % 2 == 0 {
                            1.0
                        } else {
                            -1.0
                        }
                    }
                    _ => {
                        if (step / 7 + k) % 2 == 0 {
                            1.0
                        } else {
                            -1.0
                        }
                    }
                })
                .collect();
            env.step(&actions).unwrap();
            for s in env.states() {
                let c = clearance(&layout, s.pos);
                worst = worst.min(c);
                let (i, j) = Layout::cell_of(s.pos);
                assert!(!layout.is_wall(i, j), "{maze}: point entered wall cell ({i}, {j}) at {:?}", s.pos);
            }
        }
        assert!(worst > RADIUS - 1e-3, "{maze}: the disk overlapped a wall (clearance {worst})");
    }
}

#[test]
fn same_seed_same_trajectories_whatever_the_threads() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut env = crate::make_with(
                "point_big_maze",
                1024,
                5,
                &EnvOptions { episode_length: Some(50), ..Default::default() },
            )
            .unwrap();
            let mut trace = Vec::new();
            for step in 0..120 {
                let actions: Vec<f32> = (0..1024 * 2).map(|k| ((k * 7 + step * 13) % 17) as f32 / 8.0 - 1.0).collect();
                let info = env.step(&actions).unwrap().to_vec();
                trace.extend(env.observations().iter().map(|v| v.to_bits()));
                trace.extend(info.iter().map(|i| i.traj_id as u32 ^ i.t));
            }
            trace
        })
    };
    assert_eq!(run(1), run(2));
    let mut a = make_with("point_u_maze", 4, 1, &EnvOptions::default()).unwrap();
    let mut b = make_with("point_u_maze", 4, 2, &EnvOptions::default()).unwrap();
    a.step(&[0.0; 8]).unwrap();
    b.step(&[0.0; 8]).unwrap();
    assert_ne!(a.observations(), b.observations(), "different seeds should differ");
}

#[test]
fn episodes_truncate_and_get_new_trajectory_ids() {
    let opts = EnvOptions { episode_length: Some(3), ..Default::default() };
    let mut env = make_with("point_u_maze_eval", 2, 0, &opts).unwrap();
    let mut seen = Vec::new();
    for _ in 0..7 {
        let info = env.step(&[0.0; 4]).unwrap().to_vec();
        seen.push(info);
    }
    let ts: Vec<u32> = seen.iter().map(|i| i[0].t).collect();
    assert_eq!(ts, vec![0, 1, 2, 0, 1, 2, 0]);
    let truncated: Vec<bool> = seen.iter().map(|i| i[1].truncated).collect();
    assert_eq!(truncated, vec![false, false, true, false, false, true, false]);
    let ids: Vec<u64> = seen.iter().map(|i| i[1].traj_id).collect();
    assert_eq!(ids, vec![1, 1, 1, 3, 3, 3, 5]);
    // Evaluation episodes start at R = cell (1, 1), centred at (4, 4).
    let obs = env.observations();
    assert!((obs[0] - 4.0).abs() <= 0.1 + 1e-6 && (obs[1] - 4.0).abs() <= 0.1 + 1e-6, "{obs:?}");
    // and aim at a bottom-row goal cell of the eval layout.
    assert_eq!(obs[4], 12.0);
}

#[test]
fn bad_actions_are_errors_and_big_ones_are_clipped() {
    let mut env = crate::make("point_u_maze", 2, 0).unwrap();
    let e = env.step(&[0.0, f32::NAN, 0.0, 0.0]).unwrap_err().to_string();
    assert!(e.contains("action[1] (environment 0) is NaN"), "{e}");
    let e = env.step(&[0.0; 3]).unwrap_err().to_string();
    assert!(e.contains("expected 2 environments × 2"), "{e}");
    let mut a = crate::make("point_u_maze", 1, 4).unwrap();
    let mut b = crate::make("point_u_maze", 1, 4).unwrap();
    a.step(&[100.0, -100.0]).unwrap();
    b.step(&[1.0, -1.0]).unwrap();
    assert_eq!(a.observations(), b.observations());
    // Infinite actions are clipped like any large value.
    a.step(&[f32::INFINITY, f32::NEG_INFINITY]).unwrap();
    b.step(&[1.0, -1.0]).unwrap();
    assert_eq!(a.observations(), b.observations());
}

#[test]
fn terminal_velocity_matches_force_over_damping() {
    let layout = Layout::parse("open", "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n1 R 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 G 1\n1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1").unwrap();
    let d = PointMaze::new("open", layout, 1000, false);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut s = PointState { pos: [4.0, 4.0], vel: [0.0, 0.0], goal: [4.0, 72.0] };
    for _ in 0..100 {
        d.step(&mut s, &[0.0, 1.0], &mut rng);
    }
    // v(t) = (F/c)(1 − e^{−t c/m}) with F = 5, damping c = 1, inertia m = 1.327: after 5 s (3.8 time
    // constants) the speed is close to its terminal value F/c = 5.
    let expect = 5.0 * (1.0 - (-5.0f32 / INERTIA).exp());
    assert!((s.vel[1] - expect).abs() < 0.05, "vy {} vs {expect}", s.vel[1]);
    assert!(s.vel[0].abs() < 1e-6);
}
