//! Data for distillation: rollouts in the vectorised environments, every visited (state, goal)
//! labelled with the teacher's Gaussian, aggregated in one FIFO buffer (DAgger).
//!
//! Each environment step takes the teacher's deterministic action with probability β and the
//! student's otherwise (β = 1 is behaviour cloning: teacher-driven rollouts only). Goals: the commanded
//! goal, and a hindsight goal per step (the goal-space position of a later state of the same trajectory
//! within the round), so the student learns the teacher's behaviour toward goals it will be given at
//! serving time, including the planner's intermediate waypoints.

use crate::error::{Context, Result};
use envs::GoalEnv;
use models::infer::ActorInfer;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Teacher-labelled observations: rows `[state, goal]` with the action taken there and the teacher's
/// (mean, log_std). The actions are the critic's (s, a) inputs when the critic is distilled too.
pub struct Labels {
    pub obs_dim: usize,
    pub action_dim: usize,
    capacity: usize,
    obs: Vec<f32>,
    actions: Vec<f32>,
    mean: Vec<f32>,
    log_std: Vec<f32>,
    next: usize,
    len: usize,
    /// Rows ever added (labelled samples, the budget DAgger and bc are compared at).
    pub labelled: u64,
}

/// A batch drawn from [`Labels`].
#[derive(Default)]
pub struct LabelBatch {
    pub obs: Vec<f32>,
    pub actions: Vec<f32>,
    pub mean: Vec<f32>,
    pub log_std: Vec<f32>,
}

impl Labels {
    pub fn new(obs_dim: usize, action_dim: usize, capacity: usize) -> Self {
        let cap = capacity.max(1);
        Labels {
            obs_dim,
            action_dim,
            capacity: cap,
            obs: vec![0.0; cap * obs_dim],
            actions: vec![0.0; cap * action_dim],
            mean: vec![0.0; cap * action_dim],
            log_std: vec![0.0; cap * action_dim],
            next: 0,
            len: 0,
            labelled: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Labels `obs` (rows, with the `actions` taken there) by `teacher` and stores them, overwriting the
    /// oldest when full.
    pub fn add(&mut self, obs: &[f32], actions: &[f32], teacher: &mut ActorInfer) -> Result<()> {
        let n = obs.len() / self.obs_dim;
        let (mean, log_std) = teacher.distribution_obs(obs, n).context("teacher")?;
        self.push(obs, actions, mean, log_std);
        Ok(())
    }

    /// Stores rows already labelled with the teacher's (mean, log_std).
    fn push(&mut self, obs: &[f32], actions: &[f32], mean: &[f32], log_std: &[f32]) {
        let (od, ad) = (self.obs_dim, self.action_dim);
        let n = obs.len() / od;
        for r in 0..n {
            let slot = self.next;
            self.obs[slot * od..(slot + 1) * od].copy_from_slice(&obs[r * od..(r + 1) * od]);
            self.actions[slot * ad..(slot + 1) * ad].copy_from_slice(&actions[r * ad..(r + 1) * ad]);
            self.mean[slot * ad..(slot + 1) * ad].copy_from_slice(&mean[r * ad..(r + 1) * ad]);
            self.log_std[slot * ad..(slot + 1) * ad].copy_from_slice(&log_std[r * ad..(r + 1) * ad]);
            self.next = (self.next + 1) % self.capacity;
            self.len = (self.len + 1).min(self.capacity);
        }
        self.labelled += n as u64;
    }

    /// `batch` rows drawn uniformly with replacement.
    pub fn sample(&self, batch: usize, rng: &mut impl Rng, out: &mut LabelBatch) {
        let (od, ad) = (self.obs_dim, self.action_dim);
        out.obs.clear();
        out.actions.clear();
        out.mean.clear();
        out.log_std.clear();
        for _ in 0..batch {
            let i = rng.random_range(0..self.len.max(1));
            out.obs.extend_from_slice(&self.obs[i * od..(i + 1) * od]);
            out.actions.extend_from_slice(&self.actions[i * ad..(i + 1) * ad]);
            out.mean.extend_from_slice(&self.mean[i * ad..(i + 1) * ad]);
            out.log_std.extend_from_slice(&self.log_std[i * ad..(i + 1) * ad]);
        }
    }
}

/// Runs `steps` steps of the β-mixed policy in every environment and labels what it visits.
pub fn collect_round(
    env: &mut dyn GoalEnv,
    student: &mut ActorInfer,
    teacher: &mut ActorInfer,
    beta: f64,
    steps: usize,
    rng: &mut ChaCha8Rng,
    labels: &mut Labels,
) -> Result<()> {
    let spec = env.spec().clone();
    let (n, sd, gd, ad) = (env.num_envs(), spec.state_dim, spec.goal_dim, spec.action_dim);
    let od = sd + gd;
    let mut states = Vec::with_capacity(steps * n * sd);
    let mut traj = Vec::with_capacity(steps * n);
    let mut actions = vec![0f32; n * ad];
    let mut taken = Vec::with_capacity(steps * n * ad);
    for _ in 0..steps {
        let obs = env.observations().to_vec();
        // One teacher pass gives both the label and the teacher's action, tanh(mean).
        let (mean, log_std) = teacher.distribution_obs(&obs, n).context("teacher")?;
        let s_act = student.act_obs(&obs, n).context("student")?;
        for k in 0..n {
            let row = k * ad..(k + 1) * ad;
            if rng.random_bool(beta.clamp(0.0, 1.0)) {
                actions[row.clone()].iter_mut().zip(&mean[row]).for_each(|(a, m)| *a = m.tanh());
            } else {
                actions[row.clone()].copy_from_slice(&s_act[row]);
            }
        }
        labels.push(&obs, &actions, mean, log_std);
        taken.extend_from_slice(&actions);
        for row in obs.chunks_exact(od) {
            states.extend_from_slice(&row[..sd]);
        }
        let info = env.step(&actions)?;
        traj.extend(info.iter().map(|i| i.traj_id));
    }
    // Hindsight goals: a later state of the same trajectory within this round.
    let mut hindsight = Vec::with_capacity(steps * n * od);
    let mut hindsight_actions = Vec::with_capacity(steps * n * ad);
    for t in 0..steps.saturating_sub(1) {
        for k in 0..n {
            let id = traj[t * n + k];
            let last = (t + 1..steps).take_while(|&u| traj[u * n + k] == id).last();
            let Some(last) = last else { continue };
            let j = rng.random_range(t + 1..=last);
            let s = &states[(t * n + k) * sd..(t * n + k + 1) * sd];
            let future = &states[(j * n + k) * sd..(j * n + k + 1) * sd];
            hindsight.extend_from_slice(s);
            hindsight.extend(spec.goal_indices.iter().map(|&i| future[i]));
            hindsight_actions.extend_from_slice(&taken[(t * n + k) * ad..(t * n + k + 1) * ad]);
        }
    }
    if !hindsight.is_empty() {
        labels.add(&hindsight, &hindsight_actions, teacher)?;
    }
    Ok(())
}
