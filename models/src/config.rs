//! `ModelConfig`: the shape of a deepcrl model (actor + critic), serialised into every checkpoint.
//!
//! The defaults follow DESIGN.md section 2: width 256, representation dimension 64, SiLU, and depth
//! counted as the number of Linear layers inside residual blocks (so depth must be a positive multiple
//! of 4). Actor and critic depths are separate because the paper's deepest runs used a shallower actor.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// Everything needed to rebuild a model's parameter layout, plus the provenance stored with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Environment name from the `envs` registry (informational for the model itself).
    pub env: String,
    pub state_dim: usize,
    pub goal_dim: usize,
    /// Indices of the state that form its goal-space projection.
    pub goal_indices: Vec<usize>,
    pub action_dim: usize,
    /// Linear layers inside the actor's residual blocks (a multiple of 4).
    pub actor_depth: usize,
    /// Linear layers inside each critic encoder's residual blocks (a multiple of 4; 0 = no critic).
    pub critic_depth: usize,
    pub width: usize,
    /// Output dimension of the critic's φ and ψ encoders.
    pub repr_dim: usize,
    /// Only "silu" is implemented; kept in the file so a future activation cannot be misread.
    pub activation: String,
    /// SGD steps the weights have seen.
    #[serde(default)]
    pub training_step: u64,
    /// For students and pruned models: the checkpoint they were made from.
    #[serde(default)]
    pub parent: Option<String>,
}

impl ModelConfig {
    /// A config with the design's defaults for the given environment sizes.
    pub fn new(env: &str, state_dim: usize, goal_dim: usize, action_dim: usize, depth: usize) -> Self {
        ModelConfig {
            env: env.to_string(),
            state_dim,
            goal_dim,
            goal_indices: (0..goal_dim).collect(),
            action_dim,
            actor_depth: depth,
            critic_depth: depth,
            width: 256,
            repr_dim: 64,
            activation: "silu".to_string(),
            training_step: 0,
            parent: None,
        }
    }

    /// Point-maze sizes (state x, y, vx, vy; goal x, y; 2-D force), handy for tests and benchmarks.
    pub fn point_maze(depth: usize) -> Self {
        Self::new("point_u_maze", 4, 2, 2, depth)
    }

    pub fn with_width(mut self, width: usize) -> Self {
        self.width = width;
        self
    }

    /// Checks the invariants the networks rely on; every loader and constructor calls this.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |msg: String| Err(ModelError::Config(msg));
        // critic_depth 0 means "no critic": an actor-only student.
        for (name, d, zero_ok) in [("actor_depth", self.actor_depth, false), ("critic_depth", self.critic_depth, true)]
        {
            if (d == 0 && !zero_ok) || d % 4 != 0 {
                return bad(format!(
                    "{name} = {d}: depth counts the Linear layers inside residual blocks of 4, so it \
                     must be a positive multiple of 4 (4, 8, 16, ... 1024)"
                ));
            }
        }
        for (name, v) in [
            ("state_dim", self.state_dim),
            ("goal_dim", self.goal_dim),
            ("action_dim", self.action_dim),
            ("width", self.width),
            ("repr_dim", self.repr_dim),
        ] {
            if v == 0 {
                return bad(format!("{name} must be positive"));
            }
        }
        if self.goal_indices.len() != self.goal_dim {
            return bad(format!(
                "goal_indices has {} entries but goal_dim is {}",
                self.goal_indices.len(),
                self.goal_dim
            ));
        }
        if let Some(&i) = self.goal_indices.iter().find(|&&i| i >= self.state_dim) {
            return bad(format!("goal index {i} is outside the state (state_dim {})", self.state_dim));
        }
        if self.activation != "silu" {
            return bad(format!("activation {:?} is not supported (only \"silu\")", self.activation));
        }
        Ok(())
    }
}
