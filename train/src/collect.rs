//! Collection: the stochastic actor steps the vectorised environments and every transition goes to
//! replay with its trajectory id and step index.

use envs::{GoalEnv, Result as EnvResult};
use models::infer::ActorInfer;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::replay::Replay;

/// Reusable buffers for one batch of environments.
#[derive(Default)]
pub struct Collector {
    states: Vec<f32>,
    actions: Vec<f32>,
    traj: Vec<u64>,
    step: Vec<u32>,
}

impl Collector {
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
        for _ in 0..steps {
            let obs = env.observations();
            self.states.clear();
            for row in obs.chunks_exact(sd + gd) {
                self.states.extend_from_slice(&row[..sd]);
            }
            self.actions.resize(n * ad, 0.0);
            let (mean, log_std) =
                actor.distribution_obs(obs, n).map_err(|e| envs::EnvError::Invalid(format!("actor: {e}")))?;
            for ((a, m), ls) in self.actions.iter_mut().zip(mean).zip(log_std) {
                let eps: f32 = rng.sample(StandardNormal);
                *a = (m + ls.exp() * eps).tanh();
            }
            let info = env.step(&self.actions)?;
            self.traj.clear();
            self.step.clear();
            for i in info {
                self.traj.push(i.traj_id);
                self.step.push(i.t);
            }
            replay.push(&self.states, &self.actions, &self.traj, &self.step);
        }
        Ok((steps * n) as u64)
    }
}
