//! Collection: the stochastic actor steps the vectorised environments and every transition goes to
//! replay with its trajectory id and step index.
//!
//! Goal chaining (`chain_goals`): when an environment reaches the goal the actor is commanded toward,
//! the collector commands a fresh goal from the training distribution (the current goal of another
//! environment, drawn at random) for the rest of the episode. Replay stores states and actions only
//! and relabels goals in hindsight, so this changes what the agent visits, not what is learned from
//! it: a trajectory that reaches one goal and then goes on to another links the two regions, which a
//! policy that hovers at its first goal never shows the critic.

use envs::{GoalEnv, Result as EnvResult};
use models::infer::ActorInfer;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::replay::Replay;

/// Reusable buffers for one batch of environments.
#[derive(Default)]
pub struct Collector {
    /// Command a new goal on reaching the commanded one (see the module notes).
    pub chain_goals: bool,
    /// Per environment: the goal commanded instead of the environment's own, if any.
    chained: Vec<Option<Vec<f32>>>,
    obs: Vec<f32>,
    states: Vec<f32>,
    actions: Vec<f32>,
    traj: Vec<u64>,
    step: Vec<u32>,
}

impl Collector {
    pub fn new(chain_goals: bool) -> Self {
        Collector { chain_goals, ..Collector::default() }
    }

    /// Runs `steps` environment steps with a ~ tanh(N(mean, std)) from `actor`, pushing every
    /// transition into `replay`; returns the environment steps taken (all environments counted).
    pub fn round(
        &mut self,
        env: &mut dyn GoalEnv,
        actor: &mut ActorInfer,
        replay: &mut Replay,
        steps: usize,
        rng: &mut ChaCha8Rng,
    ) -> EnvResult<u64> {
        let spec = env.spec().clone();
        let (n, sd, gd, ad) = (env.num_envs(), spec.state_dim, spec.goal_dim, spec.action_dim);
        self.chained.resize(n, None);
        for _ in 0..steps {
            self.obs.clear();
            self.obs.extend_from_slice(env.observations());
            if self.chain_goals {
                self.command_chained_goals(&spec, rng);
            }
            self.states.clear();
            for row in self.obs.chunks_exact(sd + gd) {
                self.states.extend_from_slice(&row[..sd]);
            }
            self.actions.resize(n * ad, 0.0);
            let (mean, log_std) =
                actor.distribution_obs(&self.obs, n).map_err(|e| envs::EnvError::Invalid(format!("actor: {e}")))?;
            for ((a, m), ls) in self.actions.iter_mut().zip(mean).zip(log_std) {
                let eps: f32 = rng.sample(StandardNormal);
                *a = (m + ls.exp() * eps).tanh();
            }
            let info = env.step(&self.actions)?;
            self.traj.clear();
            self.step.clear();
            for (k, i) in info.iter().enumerate() {
                self.traj.push(i.traj_id);
                self.step.push(i.t);
                if i.truncated {
                    self.chained[k] = None;
                }
            }
            replay.push(&self.states, &self.actions, &self.traj, &self.step);
        }
        Ok((steps * n) as u64)
    }

    /// Rewrites the goal part of `self.obs` with each environment's chained goal, first moving on to
    /// a new one wherever the current goal has been reached.
    fn command_chained_goals(&mut self, spec: &envs::EnvSpec, rng: &mut ChaCha8Rng) {
        let (sd, gd) = (spec.state_dim, spec.goal_dim);
        let row = sd + gd;
        let n = self.obs.len() / row;
        for k in 0..n {
            let o = &self.obs[k * row..(k + 1) * row];
            let goal = self.chained[k].as_deref().unwrap_or(&o[sd..]);
            let dist2: f32 = spec.goal_indices.iter().zip(goal).map(|(&i, g)| (o[i] - g) * (o[i] - g)).sum();
            if dist2 < spec.success_threshold * spec.success_threshold {
                let j = rng.random_range(0..n);
                let next = self.obs[j * row + sd..(j + 1) * row].to_vec();
                self.chained[k] = Some(next);
            }
            if let Some(g) = &self.chained[k] {
                self.obs[k * row + sd..(k + 1) * row].copy_from_slice(g);
            }
        }
    }
}
