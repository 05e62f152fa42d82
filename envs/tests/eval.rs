//! `evaluate` counts exactly: a scripted environment with a known success table checks episode
//! order, the surplus of the last round, first success steps, `time_at_goal` and the intervals; a
//! point that never moves never succeeds; lockstep violations and empty evaluations are errors; an
//! episode that terminates early counts until its termination and the batch restarts in step.

use envs::eval::{evaluate, evaluate_with, EvalOptions, Policy, Stat};
use envs::{make_with, EnvOptions, EnvSpec, GoalEnv, Result, StepInfo};

/// Success tables per (round, environment): `'1'` marks a success step. 3 environments, length 4.
const TABLE: [[&str; 3]; 2] = [["0000", "0110", "1111"], ["0001", "0000", "1111"]];

/// Observation `[round·10 + env, goal = round·10 + env]`; success follows [`TABLE`].
struct Scripted {
    spec: EnvSpec,
    obs: Vec<f32>,
    info: Vec<StepInfo>,
    t: usize,
    round: usize,
    /// Truncate every episode one step early (breaks lockstep).
    short: bool,
    /// (environment, step): that environment's episode terminates at that step, once.
    fall: Option<(usize, usize)>,
}

impl Scripted {
    fn new(short: bool) -> Self {
        let spec = EnvSpec {
            name: "scripted".into(),
            state_dim: 1,
            goal_dim: 1,
            goal_indices: vec![0],
            action_dim: 1,
            episode_length: 4,
            success_threshold: 0.5,
        };
        let mut env =
            Scripted { spec, obs: vec![], info: vec![StepInfo::default(); 3], t: 0, round: 0, short, fall: None };
        env.reset(0);
        env
    }

    fn observe(&mut self) {
        self.obs = (0..3).flat_map(|i| [(self.round * 10 + i) as f32; 2]).collect();
    }
}

impl GoalEnv for Scripted {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }
    fn num_envs(&self) -> usize {
        3
    }
    fn reset(&mut self, _seed: u64) {
        (self.t, self.round) = (0, 0);
        self.observe();
    }
    fn observations(&self) -> &[f32] {
        &self.obs
    }
    fn step(&mut self, actions: &[f32]) -> Result<&[StepInfo]> {
        assert_eq!(actions.len(), 3);
        let len = if self.short { 3 } else { 4 };
        let truncated = self.t + 1 == len;
        for (i, info) in self.info.iter_mut().enumerate() {
            let success = TABLE[self.round % 2][i].as_bytes()[self.t] == b'1';
            *info = StepInfo {
                traj_id: (self.round * 3 + i) as u64,
                t: self.t as u32,
                truncated,
                terminated: false,
                success,
            };
            match self.fall {
                Some((k, s)) if k == i && s == self.t => info.terminated = true,
                // Restarted after its fall: its own steps count from 0 again.
                Some((k, s)) if k == i && self.t > s => info.t = (self.t - s - 1) as u32,
                _ => {}
            }
        }
        self.t += 1;
        if truncated {
            (self.t, self.round) = (0, self.round + 1);
            self.fall = None;
            self.observe();
        }
        Ok(&self.info)
    }
}

fn zeros(_obs: &[f32], _n: usize, actions: &mut [f32]) -> Result<()> {
    actions.fill(0.0);
    Ok(())
}

#[test]
fn scripted_table_is_counted_exactly() {
    let mut env = Scripted::new(false);
    let r = evaluate(&mut env, &mut zeros, 5, 0).unwrap();
    assert_eq!(r.episodes, 5);
    let order: Vec<(usize, usize)> = r.records.iter().map(|e| (e.round, e.env_index)).collect();
    assert_eq!(order, [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]);
    let goals: Vec<f32> = r.records.iter().map(|e| e.goal[0]).collect();
    assert_eq!(goals, [0.0, 1.0, 2.0, 10.0, 11.0]);
    assert_eq!(r.records.iter().map(|e| e.traj_id).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    let first: Vec<Option<u32>> = r.records.iter().map(|e| e.first_success_step).collect();
    assert_eq!(first, [None, Some(2), Some(1), Some(4), None]);
    let tag: Vec<f64> = r.records.iter().map(|e| e.time_at_goal).collect();
    assert_eq!(tag, [0.0, 0.5, 1.0, 0.25, 0.0]);
    assert_eq!(r.success_rate, Stat::wilson(3, 5));
    assert!((r.success_rate.mean - 0.6).abs() < 1e-12);
    assert!((r.time_at_goal.mean - 0.35).abs() < 1e-12);
    assert_eq!(r.time_at_goal, Stat::mean_fraction(&tag));
    assert!(r.trajectories.is_empty());

    // Trajectories: the first 4 episodes, each with one position per decision.
    let opts = EvalOptions { episodes: 5, seed: 0, trajectories: 4 };
    let r2 = evaluate_with(&mut env, &mut zeros, &opts).unwrap();
    assert_eq!(r2.records, r.records);
    assert_eq!(r2.trajectories.len(), 4);
    assert!(r2.trajectories.iter().all(|t| t.positions.len() == 4));
    assert_eq!(r2.trajectories[3].goal, vec![10.0]);
    assert_eq!(r2.trajectories.iter().map(|t| t.success).collect::<Vec<_>>(), [false, true, true, true]);
    let json = serde_json::to_string(&r2).unwrap();
    assert!(json.contains("\"success_rate\"") && json.contains("\"trajectories\""));
}

#[test]
fn a_terminated_episode_counts_until_its_fall_and_the_batch_restarts() {
    let mut env = Scripted::new(false);
    // Environment 1 ("0110") falls on its second step, which reached the goal.
    env.fall = Some((1, 1));
    let opts = EvalOptions { episodes: 6, seed: 0, trajectories: 3 };
    let r = evaluate_with(&mut env, &mut zeros, &opts).unwrap();
    let tag: Vec<f64> = r.records.iter().map(|e| e.time_at_goal).collect();
    assert_eq!(tag, [0.0, 0.25, 1.0, 0.0, 0.5, 1.0]);
    let ended: Vec<Option<u32>> = r.records.iter().map(|e| e.terminated_at).collect();
    assert_eq!(ended, [None, Some(2), None, None, None, None]);
    assert_eq!(r.records[1].first_success_step, Some(2));
    // The batch was reset before round 1 (the scripted reset restarts the table): goals 0, 1, 2 again.
    let goals: Vec<f32> = r.records.iter().map(|e| e.goal[0]).collect();
    assert_eq!(goals, [0.0, 1.0, 2.0, 0.0, 1.0, 2.0]);
    let lengths: Vec<usize> = r.trajectories.iter().map(|t| t.positions.len()).collect();
    assert_eq!(lengths, [4, 2, 4], "the fallen episode's path stops at its fall");
    assert!(serde_json::to_string(&r.records[1]).unwrap().contains("\"terminated_at\":2"));
    assert!(!serde_json::to_string(&r.records[0]).unwrap().contains("terminated_at"));
}

#[test]
fn broken_lockstep_and_empty_evaluations_are_errors() {
    let e = evaluate(&mut Scripted::new(true), &mut zeros, 3, 0).unwrap_err().to_string();
    assert!(e.contains("lockstep"), "{e}");
    let e = evaluate(&mut Scripted::new(false), &mut zeros, 0, 0).unwrap_err().to_string();
    assert!(e.contains("at least one episode"), "{e}");
    let mut bad = |_: &[f32], _: usize, a: &mut [f32]| -> Result<()> {
        a.fill(f32::NAN);
        Ok(())
    };
    let e = evaluate(&mut Scripted::new(false), &mut bad, 1, 0).unwrap_err().to_string();
    assert!(e.contains("NaN for environment 0 at step 0"), "{e}");
}

#[test]
fn a_point_that_never_moves_never_succeeds_and_runs_are_reproducible() {
    // Start (1,1) and the goals (3,1..3) of the U-maze are at least 8 apart; the start velocity
    // (0.1·N(0,1)) decays within a few steps.
    let opts = EnvOptions { episode_length: Some(60), ..EnvOptions::default() };
    let mut env = make_with("point_u_maze_eval", 7, 0, &opts).unwrap();
    let r = evaluate(env.as_mut(), &mut zeros, 10, 3).unwrap();
    assert_eq!((r.episodes, r.success_rate.mean, r.time_at_goal.mean), (10, 0.0, 0.0));
    assert!(r.records.iter().all(|e| e.first_success_step.is_none() && e.goal.len() == 2));
    let again = evaluate(env.as_mut(), &mut zeros as &mut dyn Policy, 10, 3).unwrap();
    assert_eq!(r, again);
}
