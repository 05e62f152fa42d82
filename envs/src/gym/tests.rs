//! The bridge against the small env shipped in examples/gym and, where Gymnasium-Robotics is
//! installed, PointMaze. These run with the `gym` feature after scripts/gym.sh and
//! `source .tools/gym/env.sh` (CI does both).

use super::python::{attach, python_error};
use super::*;
use crate::StepInfo;

/// Puts examples/gym on the interpreter's path (tests run from envs/).
fn with_examples() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/gym");
    attach(|py| {
        let sys = py.import("sys").map_err(|e| python_error(py, "sys", &e))?;
        let path = sys.getattr("path").map_err(|e| python_error(py, "sys.path", &e))?;
        if !path.contains(dir).unwrap_or(false) {
            path.call_method1("insert", (0, dir)).map_err(|e| python_error(py, "sys.path", &e))?;
        }
        Ok(())
    })
    .unwrap();
}

fn toy(factory: &str, n: usize, seed: u64, opts: &EnvOptions) -> Result<Box<dyn GoalEnv>> {
    with_examples();
    make(&format!("gym:point_goal:{factory}"), n, seed, opts)
}

fn opts(episode_length: usize) -> EnvOptions {
    EnvOptions { episode_length: Some(episode_length), ..EnvOptions::default() }
}

fn rollout(env: &mut dyn GoalEnv, steps: usize, action: impl Fn(usize, usize) -> f32) -> (Vec<f32>, Vec<StepInfo>) {
    let (n, a) = (env.num_envs(), env.spec().action_dim);
    let (mut obs, mut infos) = (env.observations().to_vec(), Vec::new());
    for t in 0..steps {
        let actions: Vec<f32> = (0..n * a).map(|k| action(t, k)).collect();
        infos.extend_from_slice(env.step(&actions).unwrap());
        obs.extend_from_slice(env.observations());
    }
    (obs, infos)
}

#[test]
fn names_parse_into_ids_and_factories() {
    let t = |s: &str| Target::parse(s).unwrap().unwrap();
    assert_eq!(t("gym:PointMaze_UMaze-v3"), Target { target: "PointMaze_UMaze-v3".into(), factory: false });
    assert_eq!(t("gym:point_goal:make"), Target { target: "point_goal:make".into(), factory: true });
    assert!(t("gym:pkg.envs:Factory.build").is_factory());
    // Gymnasium's own `module:Env-v0` stays an id.
    assert!(!t("gym:my_pkg:MyEnv-v0").is_factory());
    assert!(Target::parse("point_u_maze").is_none());
    let e = Target::parse("gym:").unwrap().unwrap_err().to_string();
    assert!(e.contains("gym:MODULE:FACTORY"), "{e}");
}

#[test]
fn the_mapping_puts_observation_and_achieved_goal_in_the_state_and_desired_goal_in_the_goal() {
    let mut env = toy("make", 3, 5, &opts(20)).unwrap();
    let spec = env.spec().clone();
    assert_eq!(spec.name, "gym:point_goal:make");
    assert_eq!((spec.state_dim, spec.goal_dim, spec.action_dim), (6, 2, 2));
    assert_eq!(spec.goal_indices, vec![4, 5]);
    assert_eq!(spec.episode_length, 20);
    assert!((spec.success_threshold - 0.1).abs() < 1e-7, "the env's distance_threshold");
    let obs = env.observations().to_vec();
    for row in obs.chunks_exact(8) {
        assert_eq!(&row[0..2], &row[4..6], "observation's position equals achieved_goal");
        assert_eq!(&row[2..4], &[0.0, 0.0], "no action yet");
    }
    // Actions in [-1, 1] reach the env scaled to its Box [-0.1, 0.1]; beyond ±1 they are clipped first.
    env.step(&[1.0, -0.5, 0.0, 0.25, 7.0, -7.0]).unwrap();
    let got: Vec<f32> = env.observations().chunks_exact(8).flat_map(|r| r[2..4].to_vec()).collect();
    let want = [0.1, -0.05, 0.0, 0.025, 0.1, -0.1];
    assert!(got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6), "{got:?}");
}

#[test]
fn success_trajectory_ids_and_truncation_follow_the_env() {
    let mut env = toy("make", 2, 1, &opts(6)).unwrap();
    let (obs, infos) = rollout(env.as_mut(), 13, |_, k| if k % 2 == 0 { 0.3 } else { -0.2 });
    for (step, pair) in infos.chunks_exact(2).enumerate() {
        for (i, info) in pair.iter().enumerate() {
            assert_eq!(info.t as usize, step % 6);
            assert_eq!(info.traj_id, i as u64 + 2 * (step / 6) as u64, "step {step} env {i}");
            assert_eq!(info.truncated, step % 6 == 5);
            assert!(!info.terminated);
            // The state reached by this step: the next observation, unless the episode ended there.
            if !info.truncated {
                let row = &obs[(step + 1) * 16 + i * 8..][..8];
                let d = ((row[4] - row[6]).powi(2) + (row[5] - row[7]).powi(2)).sqrt();
                assert_eq!(info.success, d < 0.1, "step {step} env {i}: distance {d}");
            }
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_trajectories_sync_or_async() {
    let act = |t: usize, k: usize| ((t * 7 + k * 3) % 11) as f32 / 5.0 - 1.0;
    let a = rollout(toy("make", 3, 42, &opts(5)).unwrap().as_mut(), 12, act);
    let b = rollout(toy("make", 3, 42, &opts(5)).unwrap().as_mut(), 12, act);
    assert_eq!(a, b);
    let async_opts = EnvOptions { gym_async: true, ..opts(5) };
    let c = rollout(toy("make", 3, 42, &async_opts).unwrap().as_mut(), 12, act);
    assert_eq!(a, c, "AsyncVectorEnv steps the same envs");
    let d = rollout(toy("make", 3, 43, &opts(5)).unwrap().as_mut(), 12, act);
    assert_ne!(a.0, d.0, "another seed, other starts");
    // reset(seed) starts over exactly.
    let mut env = toy("make", 3, 42, &opts(5)).unwrap();
    rollout(env.as_mut(), 3, act);
    env.reset(42);
    assert_eq!(rollout(env.as_mut(), 12, act), a);
}

#[test]
fn kwargs_reach_the_factory_and_bad_kwargs_are_refused() {
    let kw = |s: &str| EnvOptions { gym_kwargs: Some(s.into()), ..opts(5) };
    let env = toy("make", 1, 0, &kw(r#"{"distance_threshold": 0.25}"#)).unwrap();
    assert_eq!(env.spec().success_threshold, 0.25);
    // A radius the user gives overrides the env's (it steers goal chaining, not success).
    let radius = EnvOptions { gym_success_radius: Some(0.3), ..kw(r#"{"distance_threshold": 0.25}"#) };
    assert_eq!(toy("make", 1, 0, &radius).unwrap().spec().success_threshold, 0.3);
    let e = toy("make", 1, 0, &kw("[1, 2]")).err().unwrap().to_string();
    assert!(e.contains("JSON object"), "{e}");
    let e = toy("make", 1, 0, &kw(r#"{"no_such_argument": 1}"#)).err().unwrap().to_string();
    assert!(e.contains("no_such_argument") && e.contains("Traceback"), "{e}");
}

#[test]
fn without_success_in_info_compute_reward_decides() {
    let mut env = toy("make_reward_only", 2, 3, &opts(8)).unwrap();
    let (obs, infos) = rollout(env.as_mut(), 16, |t, _| if t < 8 { 0.5 } else { -0.5 });
    let mut checked = 0;
    for (step, pair) in infos.chunks_exact(2).enumerate() {
        for (i, info) in pair.iter().enumerate().filter(|(_, info)| !info.truncated) {
            let row = &obs[(step + 1) * 16 + i * 8..][..8];
            let d = ((row[4] - row[6]).powi(2) + (row[5] - row[7]).powi(2)).sqrt();
            assert_eq!(info.success, d < 0.1);
            checked += 1;
        }
    }
    assert_eq!(checked, 28);
}

#[test]
fn bad_spaces_are_refused_with_what_the_env_returned() {
    let cases = [
        ("make_discrete_actions", &["gym:point_goal:make_discrete_actions", "Discrete(4)", "not a Box"][..]),
        ("make_flat_observation", &["not a Dict", "Box("]),
        ("make_missing_key", &["missing ['achieved_goal']"]),
        ("make_mismatched_goal", &["achieved_goal has 2 values but desired_goal has 3"]),
        ("make_unbounded_actions", &["unbounded"]),
        ("no_such_factory", &["has no 'no_such_factory'"]),
        ("not_callable", &["not a callable"]),
    ];
    for (factory, needles) in cases {
        let e = toy(factory, 1, 0, &opts(5)).err().unwrap().to_string();
        for needle in needles {
            assert!(e.contains(needle), "{factory}: {needle:?} not in {e}");
        }
        assert!(!e.contains("Traceback"), "{factory}: a space error is a message, not a traceback: {e}");
    }
    let e = make("gym:no_such_module_here:make", 1, 0, &opts(5)).err().unwrap().to_string();
    assert!(e.contains("cannot import module 'no_such_module_here'"), "{e}");
    let e = make("gym:NoSuchEnv-v0", 1, 0, &opts(5)).err().unwrap().to_string();
    assert!(e.contains("NoSuchEnv"), "{e}");
}

#[test]
fn an_exception_inside_step_surfaces_with_its_traceback() {
    let kwargs = EnvOptions { gym_kwargs: Some(r#"{"raise_after": 3}"#.into()), ..opts(50) };
    let mut env = toy("make", 2, 0, &kwargs).unwrap();
    for _ in 0..3 {
        env.step(&[0.0; 4]).unwrap();
    }
    let e = env.step(&[0.0; 4]).unwrap_err().to_string();
    for needle in [
        "stepping gym:point_goal:make",
        "RuntimeError",
        "simulated failure after 3 steps",
        "Traceback",
        "point_goal.py",
    ] {
        assert!(e.contains(needle), "{needle:?} not in {e}");
    }
    let e = env.step(&[f32::NAN, 0.0, 0.0, 0.0]).unwrap_err().to_string();
    assert!(e.contains("finite"), "{e}");
    let e = env.step(&[0.0; 3]).unwrap_err().to_string();
    assert!(e.contains("3 values"), "{e}");
}

/// Gymnasium-Robotics' PointMaze (scripts/gym.sh installs it): dimensions, success as its
/// info["success"] reports it, and the registered episode length.
#[test]
fn point_maze_u_maze_rolls_out() {
    assert_eq!(registered_episode_length("gym:PointMaze_UMaze-v3").unwrap(), Some(300));
    let mut env = make("gym:PointMaze_UMaze-v3", 2, 0, &opts(40)).unwrap();
    let spec = env.spec().clone();
    assert_eq!((spec.state_dim, spec.goal_dim, spec.action_dim, spec.goal_indices.clone()), (6, 2, 2, vec![4, 5]));
    let act = |t: usize, k: usize| if (t / 10 + k).is_multiple_of(2) { 1.0 } else { -1.0 };
    let (obs, infos) = rollout(env.as_mut(), 41, act);
    assert!(obs.iter().all(|v| v.is_finite()));
    assert_eq!(infos.iter().filter(|i| i.truncated).count(), 2, "one episode of 40 steps each, then a new one");
    assert_eq!(infos[2 * 40].traj_id, 2);
    let mut again = make("gym:PointMaze_UMaze-v3", 2, 0, &opts(40)).unwrap();
    assert_eq!(rollout(again.as_mut(), 41, act).0, obs, "MuJoCo steps deterministically from the same seeds");
}
