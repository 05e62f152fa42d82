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

/// An episode state of fixed size as exact bits, for snapshots: floats are stored as their bit
/// patterns, so a restored environment continues bit for bit. [`Dynamics`] whose states are
/// `StateWords` forward their snapshot methods to it.
pub trait StateWords: Sized {
    /// Words one state takes.
    const WORDS: usize;
    fn write_words(&self, out: &mut Vec<u64>);
    /// Reads a state from exactly [`Self::WORDS`] words.
    fn read_words(words: &[u64]) -> Self;
}

/// One environment's dynamics; [`VecEnv`] runs a batch of them.
pub trait Dynamics: Send + Sync {
    /// Everything that evolves during an episode, goal included.
    type State: Send + Sync;

    fn spec(&self) -> &EnvSpec;
    /// A fresh episode: initial state and commanded goal.
    fn reset(&self, rng: &mut ChaCha8Rng) -> Self::State;
    /// Starts a fresh episode in `state`'s place; dynamics whose states are costly to build (a
    /// MuJoCo `mjData`) reuse the allocation. The draws from `rng` must be those of [`Self::reset`].
    fn reset_into(&self, state: &mut Self::State, rng: &mut ChaCha8Rng) {
        *state = self.reset(rng);
    }
    /// Advances one control step with an action already clipped to [−1, 1].
    fn step(&self, state: &mut Self::State, action: &[f32], rng: &mut ChaCha8Rng);
    /// Writes the observation [state, goal] (`state_dim + goal_dim` values).
    fn observe(&self, state: &Self::State, out: &mut [f32]);
    /// The episode must end here (a legged robot fell): the environment resets at once.
    fn terminated(&self, _state: &Self::State) -> bool {
        false
    }
    /// Environments per thread below which a batch is stepped on the calling thread: a step must
    /// cost more than handing it to another thread. A point-mass step takes nanoseconds, a MuJoCo
    /// step tens of microseconds.
    fn min_per_thread(&self) -> usize {
        256
    }
    /// Words one state takes in a snapshot.
    fn state_words(&self) -> usize;
    /// Appends exactly [`Self::state_words`] words that [`Self::read_state`] turns back into `state`.
    fn write_state(&self, state: &Self::State, out: &mut Vec<u64>);
    fn read_state(&self, words: &[u64]) -> Result<Self::State>;
}

/// [`Dynamics`]' snapshot methods for a state that is [`StateWords`].
macro_rules! state_words_snapshot {
    () => {
        fn state_words(&self) -> usize {
            <Self::State as $crate::vec_env::StateWords>::WORDS
        }
        fn write_state(&self, state: &Self::State, out: &mut Vec<u64>) {
            $crate::vec_env::StateWords::write_words(state, out)
        }
        fn read_state(&self, words: &[u64]) -> $crate::Result<Self::State> {
            Ok(<Self::State as $crate::vec_env::StateWords>::read_words(words))
        }
    };
}
pub(crate) use state_words_snapshot;

/// Checks a batch's actions (`n × a_dim` values, no NaN) and writes them clipped to [−1, 1] into
/// `clipped`: every [`GoalEnv`] takes its actions by this rule.
pub(crate) fn clip_actions(actions: &[f32], n: usize, a_dim: usize, clipped: &mut Vec<f32>) -> Result<()> {
    if actions.len() != n * a_dim {
        return Err(EnvError::ActionShape { got: actions.len(), num_envs: n, action_dim: a_dim });
    }
    if let Some(index) = actions.iter().position(|a| a.is_nan()) {
        return Err(EnvError::NonFiniteAction { index, env: index / a_dim, value: actions[index] });
    }
    clipped.clear();
    clipped.extend(actions.iter().map(|a| a.clamp(-1.0, 1.0)));
    Ok(())
}

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

/// Words per environment in a snapshot besides its state: t, episode, the RNG's seed (4), stream and
/// word position (2).
const SLOT_WORDS: usize = 9;

impl<D: Dynamics> GoalEnv for VecEnv<D> {
    fn snapshot(&self) -> Result<Vec<u64>> {
        let mut out = Vec::with_capacity(self.slots.len() * (SLOT_WORDS + self.dynamics.state_words()));
        for slot in &self.slots {
            let seed = slot.rng.get_seed();
            let word_pos = slot.rng.get_word_pos();
            out.extend([u64::from(slot.t), slot.episode]);
            out.extend(seed.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())));
            out.extend([slot.rng.get_stream(), word_pos as u64, (word_pos >> 64) as u64]);
            self.dynamics.write_state(&slot.state, &mut out);
        }
        Ok(out)
    }

    fn restore(&mut self, words: &[u64]) -> Result<()> {
        let per = SLOT_WORDS + self.dynamics.state_words();
        if words.len() != self.slots.len() * per {
            return Err(EnvError::Invalid(format!(
                "an environment snapshot of {} words does not fit {} environments of {} ({per} words each); it was \
                 taken of another environment or batch size",
                words.len(),
                self.slots.len(),
                self.spec().name
            )));
        }
        let obs_dim = self.dynamics.spec().obs_dim();
        for ((slot, w), out) in
            self.slots.iter_mut().zip(words.chunks_exact(per)).zip(self.obs.chunks_exact_mut(obs_dim))
        {
            let t =
                u32::try_from(w[0]).map_err(|_| EnvError::Invalid(format!("snapshot step {} is too large", w[0])))?;
            let mut seed = [0u8; 32];
            for (dst, word) in seed.chunks_exact_mut(8).zip(&w[2..6]) {
                dst.copy_from_slice(&word.to_le_bytes());
            }
            let mut rng = ChaCha8Rng::from_seed(seed);
            rng.set_stream(w[6]);
            rng.set_word_pos(u128::from(w[7]) | (u128::from(w[8]) << 64));
            *slot = Slot { state: self.dynamics.read_state(&w[SLOT_WORDS..])?, rng, t, episode: w[1] };
            self.dynamics.observe(&slot.state, out);
        }
        Ok(())
    }

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
        clip_actions(actions, n, a_dim, &mut self.clipped)?;
        let (d, clipped) = (&self.dynamics, &self.clipped);
        let step_one = |(i, ((slot, out), info)): Item<'_, D::State>| {
            d.step(&mut slot.state, &clipped[i * a_dim..(i + 1) * a_dim], &mut slot.rng);
            d.observe(&slot.state, out);
            let success = spec.is_success(out);
            let traj_id = i as u64 + n as u64 * slot.episode;
            let t = slot.t;
            slot.t += 1;
            let truncated = slot.t as usize >= spec.episode_length;
            let terminated = !truncated && d.terminated(&slot.state);
            if truncated || terminated {
                d.reset_into(&mut slot.state, &mut slot.rng);
                slot.t = 0;
                slot.episode += 1;
                d.observe(&slot.state, out);
            }
            *info = StepInfo { traj_id, t, truncated, terminated, success };
        };
        let par_min = d.min_per_thread().max(1);
        if n >= 2 * par_min {
            self.slots
                .par_iter_mut()
                .zip(self.obs.par_chunks_exact_mut(obs_dim))
                .zip(self.info.par_iter_mut())
                .enumerate()
                .with_min_len(par_min)
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

    impl StateWords for f32 {
        const WORDS: usize = 1;
        fn write_words(&self, out: &mut Vec<u64>) {
            out.push(u64::from(self.to_bits()));
        }
        fn read_words(w: &[u64]) -> Self {
            f32::from_bits(w[0] as u32)
        }
    }

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
        state_words_snapshot!();
    }

    /// Counts its steps and falls on the third.
    struct Faller(EnvSpec);

    impl Dynamics for Faller {
        type State = f32;
        fn spec(&self) -> &EnvSpec {
            &self.0
        }
        fn reset(&self, _: &mut ChaCha8Rng) -> f32 {
            0.0
        }
        fn step(&self, state: &mut f32, _: &[f32], _: &mut ChaCha8Rng) {
            *state += 1.0;
        }
        fn observe(&self, state: &f32, out: &mut [f32]) {
            out.copy_from_slice(&[*state, 0.0]);
        }
        fn terminated(&self, state: &f32) -> bool {
            *state == 3.0
        }
        state_words_snapshot!();
    }

    #[test]
    fn a_terminated_episode_resets_into_a_new_trajectory() {
        let spec = EnvSpec {
            name: "faller".into(),
            state_dim: 1,
            goal_dim: 1,
            goal_indices: vec![0],
            action_dim: 1,
            episode_length: 5,
            success_threshold: 0.0,
        };
        let mut env = VecEnv::new(Faller(spec), 2, 0).unwrap();
        let mut seen = Vec::new();
        for _ in 0..8 {
            let i = env.step(&[0.0, 0.0]).unwrap()[1];
            seen.push((i.traj_id, i.t, i.truncated, i.terminated, i.done()));
        }
        let fell = (1, 2, false, true, true);
        assert_eq!(
            seen[..4],
            [(1, 0, false, false, false), (1, 1, false, false, false), fell, (3, 0, false, false, false)]
        );
        assert_eq!(seen[5], (3, 2, false, true, true), "the new episode falls too");
        assert_eq!(env.observations()[2], 2.0, "the state restarted at the fall");
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

#[cfg(test)]
mod snapshot_tests {
    use crate::{make, make_with, EnvOptions, GoalEnv};

    /// Observation bits and (trajectory id, step, truncated, success) of every step.
    type Trace = (Vec<u32>, Vec<(u64, u32, bool, bool)>);

    /// Steps `env` with a fixed sequence of actions, returning every observation and step record.
    fn run(env: &mut dyn GoalEnv, steps: usize) -> Trace {
        let (n, a) = (env.num_envs(), env.spec().action_dim);
        let (mut obs, mut info) = (Vec::new(), Vec::new());
        for k in 0..steps {
            let actions: Vec<f32> = (0..n * a).map(|i| ((i * 7 + k * 3) % 11) as f32 / 5.0 - 1.0).collect();
            for s in env.step(&actions).unwrap() {
                info.push((s.traj_id, s.t, s.truncated, s.success));
            }
            obs.extend(env.observations().iter().map(|x| x.to_bits()));
        }
        (obs, info)
    }

    #[test]
    fn a_restored_snapshot_continues_bit_for_bit_across_resets() {
        let opts = EnvOptions { episode_length: Some(7), random_starts: true, ..EnvOptions::default() };
        for name in ["point_u_maze", "reacher"] {
            let mut a = make_with(name, 5, 3, &opts).unwrap();
            run(a.as_mut(), 9);
            let (snap, obs_at) = (a.snapshot().unwrap(), a.observations().to_vec());
            let expected = run(a.as_mut(), 20);
            // Another seed and batch history: everything that matters comes from the snapshot.
            let mut b = make_with(name, 5, 99, &opts).unwrap();
            run(b.as_mut(), 4);
            b.restore(&snap).unwrap();
            assert_eq!(b.observations(), &obs_at[..], "observations are recomputed from the restored states");
            assert_eq!(run(b.as_mut(), 20), expected, "{name}");
            let e = make(name, 4, 0).unwrap().restore(&snap).unwrap_err().to_string();
            assert!(e.contains("4 environments"), "{e}");
        }
    }
}
