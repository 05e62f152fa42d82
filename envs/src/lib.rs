//! deepcrl `envs`: goal-conditioned environments in pure Rust (no ML dependency), vectorised over a
//! batch of environments, with rollouts and closed-loop evaluation (trajectory plots are in the `plots`
//! crate, so a robot client can use this one without fonts or image codecs).
//!
//! Every environment is a [`GoalEnv`]: a batch of `num_envs` copies stepped together over flat `f32`
//! buffers. An observation is `[state (state_dim), commanded goal (goal_dim)]`; a state's position in
//! goal space is `state[goal_indices]`; an episode lasts `episode_length` steps, after which the
//! environment resets itself and starts a new trajectory id.
//!
//! ```
//! use envs::{make, GoalEnv};
//! let mut env = make("point_u_maze", 4, 0).unwrap();
//! assert_eq!(env.spec().obs_dim(), 6);
//! let info = env.step(&[1.0; 8]).unwrap();
//! assert_eq!(info.len(), 4);
//! ```

pub mod error;
pub mod eval;
#[cfg(feature = "gym")]
pub mod gym;
#[cfg(feature = "mujoco")]
pub mod mujoco;
pub mod point_maze;
pub mod policies;
pub mod reacher;
pub mod registry;
pub mod seed;
pub mod vec_env;

pub use error::{EnvError, Result};
pub use eval::{evaluate, evaluate_with, EpisodeRecord, EvalOptions, EvalReport, Policy, Stat, Trajectory};
pub use registry::{
    base_env_name, env_episode_length, eval_env_name, is_eval_env, is_gym_env, is_robot_env, make, make_with,
    maze_layout, success_threshold, task_file_of, EnvOptions, ENV_NAMES, ROBOT_NAMES,
};

/// The fixed description of an environment.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EnvSpec {
    pub name: String,
    pub state_dim: usize,
    pub goal_dim: usize,
    /// Which state entries form the state's position in goal space.
    pub goal_indices: Vec<usize>,
    pub action_dim: usize,
    pub episode_length: usize,
    /// Success when ‖state[goal_indices] − goal‖ is below this.
    pub success_threshold: f32,
}

impl EnvSpec {
    pub fn obs_dim(&self) -> usize {
        self.state_dim + self.goal_dim
    }

    /// Distance in goal space between an observation's state and its commanded goal.
    pub fn goal_distance(&self, obs: &[f32]) -> f32 {
        let goal = &obs[self.state_dim..self.state_dim + self.goal_dim];
        self.goal_indices.iter().zip(goal).map(|(&i, g)| (obs[i] - g) * (obs[i] - g)).sum::<f32>().sqrt()
    }

    pub fn is_success(&self, obs: &[f32]) -> bool {
        self.goal_distance(obs) < self.success_threshold
    }
}

/// What happened to one environment in one step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepInfo {
    /// The trajectory the transition belongs to; unique across the batch and across resets.
    pub traj_id: u64,
    /// Index of the transition within its episode (0-based).
    pub t: u32,
    /// This step ended the episode because its length was reached: the environment has been reset
    /// and its observation now belongs to the next trajectory.
    pub truncated: bool,
    /// This step ended the episode early by the task's rule (a legged robot fell): the environment
    /// has been reset, as for `truncated`. The two are never both set.
    pub terminated: bool,
    /// The state reached by this step is within the success threshold of the goal.
    pub success: bool,
}

impl StepInfo {
    /// The episode ended here, by length or by termination: the next observation starts a new one.
    pub fn done(&self) -> bool {
        self.truncated || self.terminated
    }
}

/// A batch of goal-conditioned environments.
pub trait GoalEnv: Send {
    fn spec(&self) -> &EnvSpec;
    fn num_envs(&self) -> usize;
    /// Restarts every environment from `seed`: the same seed gives bit-identical trajectories.
    fn reset(&mut self, seed: u64);
    /// Current observations, `[num_envs, state_dim + goal_dim]`.
    fn observations(&self) -> &[f32];
    /// Applies `actions` (`[num_envs, action_dim]`, clipped to [−1, 1]; NaN is an error) and returns
    /// what happened to each environment. Observations are updated in place.
    fn step(&mut self, actions: &[f32]) -> Result<&[StepInfo]>;
    /// Everything that evolves (each environment's state, RNG, step and episode count) as words, for a
    /// run that checkpoints its environments. Environments that cannot say so refuse.
    fn snapshot(&self) -> Result<Vec<u64>> {
        Err(EnvError::Invalid(format!(
            "{} cannot be checkpointed (no snapshot); train without --save-replay",
            self.spec().name
        )))
    }
    /// Continues exactly from a [`GoalEnv::snapshot`] of an environment of the same name and batch
    /// size; anything else is an error (observations are recomputed from the restored states).
    fn restore(&mut self, _words: &[u64]) -> Result<()> {
        Err(EnvError::Invalid(format!("{} cannot be restored from a snapshot", self.spec().name)))
    }
}
