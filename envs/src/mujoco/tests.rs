use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::eval::{evaluate, Policy};
use crate::policies::RandomPolicy;
use crate::registry::{make, make_with, EnvOptions};
use crate::vec_env::VecEnv;
use crate::GoalEnv;

fn robot(name: &str) -> MjEnv {
    builtin(name, 1000, &EnvOptions::default()).expect("a robot name").expect("the model builds")
}

/// Observation bits after each of `steps` random steps.
fn trace(env: &mut dyn GoalEnv, steps: usize) -> Vec<u32> {
    let a = env.spec().action_dim;
    let mut policy = RandomPolicy::new(a, 5);
    let mut actions = vec![0.0; env.num_envs() * a];
    let mut out = Vec::new();
    for _ in 0..steps {
        policy.act(env.observations(), env.num_envs(), &mut actions).unwrap();
        env.step(&actions).unwrap();
        out.extend(env.observations().iter().map(|x| x.to_bits()));
    }
    out
}

#[test]
fn the_robots_have_the_reference_shapes() {
    let ant = robot("ant");
    let s = ant.spec();
    assert_eq!((s.state_dim, s.goal_dim, s.action_dim, s.goal_indices.clone()), (29, 2, 8, vec![0, 1]));
    let h = robot("humanoid");
    let s = h.spec();
    // qpos 24, qvel 23, 13 bodies' inertia (10) and velocity (6), actuator forces 23.
    assert_eq!((s.state_dim, s.goal_dim, s.action_dim, s.goal_indices.clone()), (278, 3, 17, vec![0, 1, 2]));
    for name in crate::registry::ROBOT_NAMES {
        let env = make(name, 2, 0).unwrap();
        assert_eq!(env.spec().name, name);
        assert_eq!(crate::success_threshold(name), Some(env.spec().success_threshold));
        assert!(env.observations().iter().all(|x| x.is_finite()), "{name}");
    }
}

#[test]
fn the_same_seed_gives_the_same_trajectories_whatever_the_thread_count() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let opts = EnvOptions { episode_length: Some(7), ..EnvOptions::default() };
            let mut env = make_with("ant_u_maze", 6, 3, &opts).unwrap();
            trace(env.as_mut(), 20)
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));
    let mut other =
        make_with("ant_u_maze", 6, 4, &EnvOptions { episode_length: Some(7), ..EnvOptions::default() }).unwrap();
    assert_ne!(one, trace(other.as_mut(), 20), "another seed, other trajectories");
}

#[test]
fn nan_actions_are_errors_and_actions_are_clipped() {
    let mut env = make("ant", 2, 0).unwrap();
    let mut actions = vec![0.0; 16];
    actions[9] = f32::NAN;
    let e = env.step(&actions).unwrap_err().to_string();
    assert!(e.contains("environment 1"), "{e}");
    // Beyond ±1 is the same as ±1 (the ant's control range is [−1, 1]).
    let (mut a, mut b) = (make("ant", 1, 0).unwrap(), make("ant", 1, 0).unwrap());
    let big: Vec<f32> = (0..8).map(|i| if i % 2 == 0 { 7.0 } else { -3.0 }).collect();
    let unit: Vec<f32> = big.iter().map(|x| x.clamp(-1.0, 1.0)).collect();
    for _ in 0..5 {
        a.step(&big).unwrap();
        b.step(&unit).unwrap();
    }
    assert_eq!(a.observations(), b.observations());
}

/// The torso's x after `steps` control steps of zero action while a constant force pushes it
/// towards −x.
fn push_torso(env: &MjEnv, steps: usize) -> (f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut s = env.reset(&mut rng);
    let x0 = s.data.qpos()[0];
    let zero = vec![0.0; env.spec().action_dim];
    let mut min_x = x0;
    let mass = env.task().model.body_subtreemass()[1];
    for _ in 0..steps {
        // The ant's weight, along −x at the torso's centre.
        s.data.xfrc_applied_mut()[1] = [-9.81 * mass, 0.0, 0.0, 0.0, 0.0, 0.0];
        env.step(&mut s, &zero, &mut rng);
        assert!(!s.unstable && !env.terminated(&s), "the push is gentle enough to keep the ant up");
        min_x = min_x.min(s.data.qpos()[0]);
    }
    (x0, min_x)
}

#[test]
fn maze_walls_stop_the_torso() {
    // The U-maze's start R is cell (1, 1), centred at (4, 4); cell (0, 1) below it is a wall whose
    // face is at x = 2. The same push moves an ant with no walls far past that distance.
    let (x0, free_min) = push_torso(&robot("ant"), 40);
    assert!(x0 - free_min > 3.0, "the push moves a free ant: {x0} → {free_min}");
    let (x0, walled_min) = push_torso(&robot("ant_u_maze"), 40);
    assert!((x0 - 4.0).abs() < 0.2, "the maze ant starts at R: {x0}");
    // The torso's sphere (radius 0.25) stays out of the wall, less a little contact softness.
    assert!(walled_min > 2.0 + 0.25 - 0.05, "the torso entered the wall: x = {walled_min}");
}

#[test]
fn falls_terminate_and_restart_the_episode() {
    let ant = robot("ant");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut s = ant.reset(&mut rng);
    assert!(!ant.terminated(&s), "a fresh ant stands");
    for (z, fell) in [(0.1, true), (0.3, false), (0.99, false), (1.2, true), (f64::NAN, true)] {
        s.data.qpos_mut()[2] = z;
        assert_eq!(ant.terminated(&s), fell, "torso height {z}");
    }
    // A humanoid given no torque collapses: its torso drops below 1.0 and the episode ends early,
    // with the next observation belonging to a new trajectory.
    let mut env = VecEnv::new(robot("humanoid"), 1, 0).unwrap();
    let zero = vec![0.0; 17];
    let mut ended = None;
    for k in 0..400 {
        let info = env.step(&zero).unwrap()[0];
        assert!(!info.truncated);
        if info.terminated {
            ended = Some((k, info.traj_id));
            break;
        }
    }
    let (k, traj) = ended.expect("the humanoid fell within 400 steps (6 s)");
    assert!(k > 5, "it stood for a moment first: fell at step {k}");
    let next = env.step(&zero).unwrap()[0];
    assert_eq!((next.t, next.traj_id), (0, traj + 1), "a new episode and trajectory");
    assert!(env.observations()[2] > 1.0, "the new episode stands: z = {}", env.observations()[2]);
}

#[test]
fn success_and_time_at_goal_follow_the_torso() {
    let ant = robot("ant");
    let spec = ant.spec().clone();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut s = ant.reset(&mut rng);
    let mut obs = vec![0.0; spec.obs_dim()];
    for (dx, reached) in [(0.0, true), (0.3, true), (0.49, true), (0.51, false), (3.0, false)] {
        let g = s.goal.clone();
        s.data.qpos_mut()[0] = f64::from(g[0]) + dx;
        s.data.qpos_mut()[1] = f64::from(g[1]);
        ant.observe(&s, &mut obs);
        assert_eq!(spec.is_success(&obs), reached, "torso {dx} from the goal");
    }
    // A goal at the start: an ant that does nothing is at the goal for the whole episode.
    let mut task = ant.task().clone();
    task.goals = GoalSampler::Points(vec![vec![0.0, 0.0]]);
    task.spec.episode_length = 50;
    let mut env = VecEnv::new(MjEnv::new(task).unwrap(), 2, 0).unwrap();
    let mut still = |_: &[f32], _: usize, a: &mut [f32]| -> crate::Result<()> {
        a.fill(0.0);
        Ok(())
    };
    let report = evaluate(&mut env, &mut still, 4, 0).unwrap();
    assert_eq!(report.success_rate.mean, 1.0);
    assert_eq!(report.time_at_goal.mean, 1.0);
}

#[test]
fn a_random_policy_does_not_solve_the_ant_mazes() {
    for name in ["ant_u_maze_eval", "ant_big_maze_eval", "ant_hardest_maze_eval"] {
        let mut env = make(name, 8, 0).unwrap();
        let mut policy = RandomPolicy::new(8, 1);
        let report = evaluate(env.as_mut(), &mut policy, 8, 0).unwrap();
        assert_eq!(report.success_rate.mean, 0.0, "{name}: {}", report.success_rate);
    }
}

#[test]
fn a_restored_snapshot_continues_bit_for_bit() {
    let opts = EnvOptions { episode_length: Some(6), ..EnvOptions::default() };
    let mut a = make_with("ant_u_maze", 3, 7, &opts).unwrap();
    trace(a.as_mut(), 8);
    let (snap, obs_at) = (a.snapshot().unwrap(), a.observations().to_vec());
    let expected = trace(a.as_mut(), 15);
    let mut b = make_with("ant_u_maze", 3, 99, &opts).unwrap();
    trace(b.as_mut(), 2);
    b.restore(&snap).unwrap();
    assert_eq!(b.observations(), &obs_at[..]);
    assert_eq!(trace(b.as_mut(), 15), expected);
    let e = make("ant", 2, 0).unwrap().restore(&snap).unwrap_err().to_string();
    assert!(e.contains("2 environments"), "{e}");
}

#[test]
fn random_actions_keep_the_semi_implicit_euler_physics_stable() {
    // The physics choice (Euler at the model files' own physics steps) must not blow up under the
    // roughest policy there is: MuJoCo would reset the simulation and we would end the episode.
    for name in ["ant", "humanoid"] {
        let env = robot(name);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut policy = RandomPolicy::new(env.spec().action_dim, 2);
        let mut action = vec![0.0; env.spec().action_dim];
        let (mut falls, mut steps) = (0, 0);
        for _ in 0..4 {
            let mut s = env.reset(&mut rng);
            for _ in 0..500 {
                policy.act(&[], 1, &mut action).unwrap();
                env.step(&mut s, &action, &mut rng);
                steps += 1;
                assert!(!s.unstable, "{name}: MuJoCo found the simulation unstable after {steps} steps");
                if env.terminated(&s) {
                    falls += 1;
                    env.reset_into(&mut s, &mut rng);
                }
            }
        }
        eprintln!("{name}: {falls} falls in {steps} random steps");
    }
}
