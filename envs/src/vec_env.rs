//! The batch machinery shared by every environment: per-environment RNG streams, episode counters,
//! trajectory ids, automatic reset, the observation buffer and parallel stepping.
//!
//! Each environment owns a ChaCha8 stream derived from (seed, environment index), so trajectories
//! are bit-identical whatever the number of threads and however the batch is split.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::{EnvError, Result};
use crate::{EnvSpec, GoalEnv, StepInfo};

/// One environment's dynamics; [`VecEnv`] runs a batch of them.
pub trait Dynamics: Send + Sync {
    /// Everything that evolves during an episode, goal included.
    type State: Clone + Send + Sync + std::fmt::Debug;

    fn spec(&self) -> &EnvSpec;
    /// A fresh episode: initial state and commanded goal.
    fn reset(&self, rng: &mut ChaCha8Rng) -> Self::State;
    /// Advances one control step with an action already clipped to [−1, 1].
    fn step(&self, state: &mut Self::State, action: &[f32], rng: &mut ChaCha8Rng);
    /// Writes the observation [state, goal] (`state_dim + goal_dim` values).
    fn observe(&self, state: &Self::State, out: &mut [f32]);
}

/// Below this many environments per thread, stepping stays on the calling thread.
const PAR_MIN: usize = 256;

struct Slot<S> {
    state: S,
    rng: ChaCha8Rng,
    t: u32,
    /// Episodes this environment has started; its trajectory ids are `index + num_envs · episode`.
    episode: u64,
}

/// One environment's slice of the batch as the step loop sees it.
type Item<'a, S> = (usize, ((&'a mut Slot<S>, &'a mut [f32]), &'a mut StepInfo));

/// A batch of `num_envs` environments of one kind.
pub struct VecEnv<D: Dynamics> {
    dynamics: D,
    slots: Vec<Slot<D::State>>,
    obs: Vec<f32>,
    info: Vec<StepInfo>,
    /// The step's actions clipped to [−1, 1], for any action size (a humanoid has 17).
    clipped: Vec<f32>,
}

impl<D: Dynamics> VecEnv<D> {
    pub fn new(dynamics: D, num_envs: usize, seed: u64) -> Result<Self> {
        if num_envs == 0 {
            return Err(EnvError::Invalid("num_envs must be at least 1".into()));
        }
        let mut env = VecEnv { dynamics, slots: Vec::new(), obs: Vec::new(), info: Vec::new(), clipped: Vec::new() };
        env.reset_all(num_envs, seed);
        Ok(env)
    }

    pub fn dynamics(&self) -> &D {
        &self.dynamics
    }

    /// The current states (goal included) of every environment.
    pub fn states(&self) -> impl Iterator<Item = &D::State> {
        self.slots.iter().map(|s| &s.state)
    }

    fn reset_all(&mut self, num_envs: usize, seed: u64) {
        let d = &self.dynamics;
        let obs_dim = d.spec().obs_dim();
        self.slots = (0..num_envs)
            .map(|i| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(i as u64);
                let state = d.reset(&mut rng);
                Slot { state, rng, t: 0, episode: 0 }
            })
            .collect();
        self.obs = vec![0.0; num_envs * obs_dim];
        for (slot, out) in self.slots.iter().zip(self.obs.chunks_exact_mut(obs_dim)) {
            d.observe(&slot.state, out);
        }
        self.info = (0..num_envs).map(|i| StepInfo { traj_id: i as u64, ..StepInfo::default() }).collect();
    }
}

impl<D: Dynamics> GoalEnv for VecEnv<D> {
    fn spec(&self) -> &EnvSpec {
        self.dynamics.spec()
    }

    fn num_envs(&self) -> usize {
        self.slots.len()
    }

    fn reset(&mut self, seed: u64) {
        self.reset_all(self.slots.len(), seed);
    }

    fn observations(&self) -> &[f32] {
        &self.obs
    }

    fn step(&mut self, actions: &[f32]) -> Result<&[StepInfo]> {
        let spec = self.dynamics.spec();
        let (n, a_dim, obs_dim) = (self.slots.len(), spec.action_dim, spec.obs_dim());
        if actions.len() != n * a_dim {
            return Err(EnvError::ActionShape { got: actions.len(), num_envs: n, action_dim: a_dim });
        }
        if let Some(index) = actions.iter().position(|a| a.is_nan()) {
            return Err(EnvError::NonFiniteAction { index, env: index / a_dim, value: actions[index] });
        }
        self.clipped.clear();
        self.clipped.extend(actions.iter().map(|a| a.clamp(-1.0, 1.0)));
        let (d, clipped) = (&self.dynamics, &self.clipped);
        let step_one = |(i, ((slot, out), info)): Item<'_, D::State>| {
            d.step(&mut slot.state, &clipped[i * a_dim..(i + 1) * a_dim], &mut slot.rng);
            d.observe(&slot.state, out);
            let success = spec.is_success(out);
            let traj_id = i as u64 + n as u64 * slot.episode;
            let t = slot.t;
            slot.t += 1;
            let truncated = slot.t as usize >= spec.episode_length;
            if truncated {
                slot.state = d.reset(&mut slot.rng);
                slot.t = 0;
                slot.episode += 1;
                d.observe(&slot.state, out);
            }
            *info = StepInfo { traj_id, t, truncated, success };
        };
        if n >= 2 * PAR_MIN {
            self.slots
                .par_iter_mut()
                .zip(self.obs.par_chunks_exact_mut(obs_dim))
                .zip(self.info.par_iter_mut())
                .enumerate()
                .with_min_len(PAR_MIN)
                .for_each(step_one);
        } else {
            self.slots
                .iter_mut()
                .zip(self.obs.chunks_exact_mut(obs_dim))
                .zip(self.info.iter_mut())
                .enumerate()
                .for_each(step_one);
        }
        Ok(&self.info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A point that moves by the sum of its action: enough to see every action entry arrive clipped.
    struct Sum(EnvSpec);

    impl Dynamics for Sum {
        type State = f32;
        fn spec(&self) -> &EnvSpec {
            &self.0
        }
        fn reset(&self, _: &mut ChaCha8Rng) -> f32 {
            0.0
        }
        fn step(&self, state: &mut f32, action: &[f32], _: &mut ChaCha8Rng) {
            assert_eq!(action.len(), self.0.action_dim);
            *state += action.iter().sum::<f32>();
        }
        fn observe(&self, state: &f32, out: &mut [f32]) {
            out.copy_from_slice(&[*state, 0.0]);
        }
    }

    #[test]
    fn actions_of_any_size_are_clipped_entry_by_entry() {
        let spec = |action_dim| EnvSpec {
            name: "sum".into(),
            state_dim: 1,
            goal_dim: 1,
            goal_indices: vec![0],
            action_dim,
            episode_length: 100,
            success_threshold: 0.0,
        };
        for action_dim in [1, 16, 17, 40] {
            let mut env = VecEnv::new(Sum(spec(action_dim)), 3, 0).unwrap();
            // Environment i gets actions of 0.5 · (i + 1): 0.5 and 1.0 pass, 1.5 is clipped to 1.
            let actions: Vec<f32> = (0..3).flat_map(|i| vec![0.5 * (i + 1) as f32; action_dim]).collect();
            env.step(&actions).unwrap();
            let states: Vec<f32> = env.states().copied().collect();
            let n = action_dim as f32;
            assert_eq!(states, [0.5 * n, n, n], "action_dim {action_dim}");
        }
    }
}
