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
use models::ModelError;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::replay::Replay;

/// The stochastic actor, wherever it runs: on the host ([`ActorInfer`], refreshed from the
/// parameters) or on the device that trains it (`models::gpu`, where the parameters already are).
pub trait ActorSource {
    /// (mean, log_std) `[rows, action_dim]` for `obs` rows `[state, goal]`.
    fn distribution(&mut self, obs: &[f32], rows: usize) -> Result<(&[f32], &[f32]), ModelError>;
}

impl ActorSource for ActorInfer {
    fn distribution(&mut self, obs: &[f32], rows: usize) -> Result<(&[f32], &[f32]), ModelError> {
        self.distribution_obs(obs, rows)
    }
}

/// The deterministic action tanh(mean) of an [`ActorSource`], as an evaluation policy (the same
/// action `ActorInfer::act_obs` and `rundir::Deterministic` give).
pub struct Deterministic<'a>(pub &'a mut dyn ActorSource);

impl envs::eval::Policy for Deterministic<'_> {
    fn act(&mut self, obs: &[f32], n: usize, actions: &mut [f32]) -> envs::Result<()> {
        let (mean, _) = self.0.distribution(obs, n).map_err(|e| envs::EnvError::Invalid(format!("actor: {e}")))?;
        actions.iter_mut().zip(mean).for_each(|(a, m)| *a = m.tanh());
        Ok(())
    }
}

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

    /// Per environment, the goal chained in place of its own (for checkpointing).
    pub fn chained(&self) -> &[Option<Vec<f32>>] {
        &self.chained
    }

    /// Continues with the chained goals of a checkpoint.
    pub fn set_chained(&mut self, chained: Vec<Option<Vec<f32>>>) {
        self.chained = chained;
    }

    /// Runs `steps` environment steps with a ~ tanh(N(mean, std)) from `actor`, pushing every
    /// transition into `replay`; returns the environment steps taken (all environments counted).
    pub fn round(
        &mut self,
        env: &mut dyn GoalEnv,
        actor: &mut dyn ActorSource,
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
                actor.distribution(&self.obs, n).map_err(|e| envs::EnvError::Invalid(format!("actor: {e}")))?;
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
                if i.done() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn spec() -> envs::EnvSpec {
        envs::EnvSpec {
            name: "test".into(),
            state_dim: 4,
            goal_dim: 2,
            goal_indices: vec![0, 1],
            action_dim: 2,
            episode_length: 10,
            success_threshold: 0.5,
        }
    }

    #[test]
    fn reaching_the_commanded_goal_chains_to_another_training_goal() {
        let mut c = Collector::new(true);
        c.chained = vec![None; 3];
        // Env 0 sits on its goal (1, 1); envs 1 and 2 are far from theirs.
        let env_goals = [[1.0, 1.0], [8.0, 0.0], [0.0, 8.0]];
        let obs = [[1.1, 0.9, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [4.0, 4.0, 0.0, 0.0]]
            .iter()
            .zip(&env_goals)
            .flat_map(|(s, g)| s.iter().chain(g).copied().collect::<Vec<f32>>())
            .collect::<Vec<f32>>();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut chained_to = std::collections::HashSet::new();
        for _ in 0..50 {
            c.obs = obs.clone();
            c.chained[0] = None;
            c.command_chained_goals(&spec(), &mut rng);
            let g = c.chained[0].clone().expect("env 0 reached its goal, so it gets a new one");
            assert_eq!(&c.obs[4..6], g.as_slice(), "the actor sees the chained goal");
            assert!(env_goals.iter().any(|e| e.as_slice() == g.as_slice()), "{g:?} is some env's goal");
            chained_to.insert(g.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
            assert!(c.chained[1].is_none() && c.chained[2].is_none(), "far envs keep their goals");
            assert_eq!(&c.obs[6..], &obs[6..]);
        }
        assert_eq!(chained_to.len(), 3, "new goals are drawn across environments");
    }

    #[test]
    fn a_chained_goal_stays_until_reached() {
        let mut c = Collector::new(true);
        c.chained = vec![Some(vec![5.0, 5.0])];
        c.obs = vec![1.0, 1.0, 0.0, 0.0, 1.0, 1.0];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        c.command_chained_goals(&spec(), &mut rng);
        assert_eq!(c.chained[0], Some(vec![5.0, 5.0]), "being at the env's own goal does not matter any more");
        assert_eq!(&c.obs[4..], &[5.0, 5.0]);
    }
}
