//! Trajectory replay with hindsight goals (DESIGN.md section 3).
//!
//! Storage is time-major per environment: a ring of `capacity` steps for each of `num_envs`
//! environments, FIFO. Each stored transition keeps its state, action, trajectory id and step index
//! within its episode. A sampled transition at time i gets a hindsight goal from the same trajectory
//! at i + k, k ≥ 1 drawn with P(k) ∝ γᵏ truncated at the trajectory's last stored step (the last
//! step of a trajectory uses itself). k is drawn directly by inverting the truncated geometric CDF,
//! so no T×T matrix is ever built.

use rand::Rng;

/// One batch of (state, action, hindsight goal) triples, row-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    pub states: Vec<f32>,
    pub actions: Vec<f32>,
    pub goals: Vec<f32>,
}

/// A replay buffer's arrays as stored (see [`Replay::raw`]).
#[derive(Clone, Copy, Debug)]
pub struct RawReplay<'a> {
    pub states: &'a [f32],
    pub actions: &'a [f32],
    pub traj: &'a [u64],
    pub step: &'a [u32],
    pub total: usize,
}

/// A per-environment ring buffer of trajectories.
#[derive(Clone, Debug)]
pub struct Replay {
    num_envs: usize,
    capacity: usize,
    state_dim: usize,
    action_dim: usize,
    goal_indices: Vec<usize>,
    episode_length: usize,
    /// `[capacity, num_envs, state_dim]`, slot `time % capacity`.
    states: Vec<f32>,
    actions: Vec<f32>,
    traj: Vec<u64>,
    step: Vec<u32>,
    /// Time steps collected so far (the newest is `total − 1`).
    total: usize,
}

impl Replay {
    pub fn new(
        num_envs: usize,
        capacity: usize,
        state_dim: usize,
        action_dim: usize,
        goal_indices: Vec<usize>,
        episode_length: usize,
    ) -> Self {
        assert!(num_envs > 0 && capacity > 0, "replay needs at least one environment and one step");
        Replay {
            num_envs,
            capacity,
            state_dim,
            action_dim,
            goal_indices,
            episode_length,
            states: vec![0.0; capacity * num_envs * state_dim],
            actions: vec![0.0; capacity * num_envs * action_dim],
            traj: vec![0; capacity * num_envs],
            step: vec![0; capacity * num_envs],
            total: 0,
        }
    }

    /// Steps stored per environment.
    pub fn len(&self) -> usize {
        self.total.min(self.capacity)
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Transitions stored over all environments.
    pub fn transitions(&self) -> usize {
        self.len() * self.num_envs
    }

    /// Every stored state, `[transitions(), state_dim]` row-major, in no particular order.
    pub fn stored_states(&self) -> &[f32] {
        // Slots fill from 0 and wrap, so the valid ones are always a prefix.
        &self.states[..self.transitions() * self.state_dim]
    }

    /// Appends one time step for every environment: `states [num_envs, state_dim]` (the state the
    /// action was taken in), `actions [num_envs, action_dim]`, and each transition's trajectory id and
    /// step index within its episode.
    pub fn push(&mut self, states: &[f32], actions: &[f32], traj: &[u64], step: &[u32]) {
        let (n, sd, ad) = (self.num_envs, self.state_dim, self.action_dim);
        assert_eq!(states.len(), n * sd, "replay push: states");
        assert_eq!(actions.len(), n * ad, "replay push: actions");
        assert!(traj.len() == n && step.len() == n, "replay push: ids");
        let slot = self.total % self.capacity;
        self.states[slot * n * sd..(slot + 1) * n * sd].copy_from_slice(states);
        self.actions[slot * n * ad..(slot + 1) * n * ad].copy_from_slice(actions);
        self.traj[slot * n..(slot + 1) * n].copy_from_slice(traj);
        self.step[slot * n..(slot + 1) * n].copy_from_slice(step);
        self.total += 1;
    }

    /// The stored arrays and the steps collected, for checkpointing (`--save-replay`).
    pub fn raw(&self) -> RawReplay<'_> {
        RawReplay {
            states: &self.states,
            actions: &self.actions,
            traj: &self.traj,
            step: &self.step,
            total: self.total,
        }
    }

    /// Replaces the contents with arrays from [`Replay::raw`] of a buffer of the same shape.
    pub fn restore_raw(&mut self, raw: RawReplay<'_>) -> Result<(), String> {
        let lens = (raw.states.len(), raw.actions.len(), raw.traj.len(), raw.step.len());
        let want = (self.states.len(), self.actions.len(), self.traj.len(), self.step.len());
        if lens != want {
            return Err(format!(
                "the saved replay holds {lens:?} values (states, actions, ids, steps) but this run's buffer holds \
                 {want:?}: it was saved with other num_envs, replay_steps or environment"
            ));
        }
        self.states.copy_from_slice(raw.states);
        self.actions.copy_from_slice(raw.actions);
        self.traj.copy_from_slice(raw.traj);
        self.step.copy_from_slice(raw.step);
        self.total = raw.total;
        Ok(())
    }

    fn idx(&self, time: usize, env: usize) -> usize {
        (time % self.capacity) * self.num_envs + env
    }

    /// The trajectory id and step index of the transition at `time` in environment `env`.
    pub fn id_at(&self, time: usize, env: usize) -> (u64, u32) {
        let k = self.idx(time, env);
        (self.traj[k], self.step[k])
    }

    /// How many later steps of the same trajectory are stored after `time`.
    pub fn future_steps(&self, time: usize, env: usize) -> usize {
        let (_, t) = self.id_at(time, env);
        let to_episode_end = self.episode_length.saturating_sub(t as usize + 1);
        to_episode_end.min(self.total - 1 - time)
    }

    /// Draws `batch` transitions uniformly and their hindsight goals; also returns the (time, env,
    /// offset) of each draw for callers that check them.
    pub fn sample(&self, batch: usize, gamma: f64, rng: &mut impl Rng, out: &mut Sample) -> Vec<(usize, usize, usize)> {
        assert!(!self.is_empty(), "sampling from an empty replay buffer");
        let (sd, ad, gd) = (self.state_dim, self.action_dim, self.goal_indices.len());
        out.states.resize(batch * sd, 0.0);
        out.actions.resize(batch * ad, 0.0);
        out.goals.resize(batch * gd, 0.0);
        let oldest = self.total - self.len();
        let mut draws = Vec::with_capacity(batch);
        for b in 0..batch {
            let time = rng.random_range(oldest..self.total);
            let env = rng.random_range(0..self.num_envs);
            let k = truncated_geometric(self.future_steps(time, env), gamma, rng);
            let (src, dst) = (self.idx(time, env), self.idx(time + k, env));
            out.states[b * sd..(b + 1) * sd].copy_from_slice(&self.states[src * sd..(src + 1) * sd]);
            out.actions[b * ad..(b + 1) * ad].copy_from_slice(&self.actions[src * ad..(src + 1) * ad]);
            let future = &self.states[dst * sd..(dst + 1) * sd];
            for (g, &i) in out.goals[b * gd..(b + 1) * gd].iter_mut().zip(&self.goal_indices) {
                *g = future[i];
            }
            draws.push((time, env, k));
        }
        draws
    }
}

/// k ∈ {1, …, n} with P(k) ∝ γᵏ, by inverting the CDF P(K ≤ k) = (1 − γᵏ)/(1 − γⁿ); 0 when n = 0
/// (the last step of a trajectory is its own goal).
pub fn truncated_geometric(n: usize, gamma: f64, rng: &mut impl Rng) -> usize {
    if n == 0 {
        return 0;
    }
    let u: f64 = rng.random();
    let mass = 1.0 - gamma.powi(n as i32);
    let k = 1.0 + ((1.0 - u * mass).ln() / gamma.ln()).floor();
    (k as usize).clamp(1, n)
}

#[cfg(test)]
mod tests;
