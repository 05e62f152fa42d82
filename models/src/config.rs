//! `ModelConfig`: the shape of a deepcrl model (actor + critic), serialised into every checkpoint.
//!
//! The defaults follow DESIGN.md section 2: width 256, representation dimension 64, SiLU, and depth
//! counted as the number of Linear layers inside residual blocks (so depth must be a positive multiple
//! of 4). Actor and critic depths are separate because the paper's deepest runs used a shallower actor.
//!
//! Width pruning (DESIGN.md section 7) narrows the inside of residual blocks: the outputs of a block's
//! first three Linear layers (with their LayerNorms) may be narrower than the residual stream, and the
//! fourth Linear maps back to it. [`InnerWidths`] records those widths; a config without them is the
//! uniform network, and its JSON (hence every checkpoint written before width pruning) is unchanged.
//!
//! ```
//! use models::config::{ModelConfig, TrunkKind};
//! let mut cfg = ModelConfig::point_maze(8).with_width(32);
//! cfg.set_block_inner_widths(TrunkKind::Actor, &[[16, 8, 24], [32, 32, 32]]);
//! cfg.validate().unwrap();
//! assert_eq!(cfg.block_inner_widths(TrunkKind::Actor), vec![[16, 8, 24], [32, 32, 32]]);
//! assert_eq!(cfg.block_inner_widths(TrunkKind::CriticSa), vec![[32, 32, 32]; 2]);
//! ```

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
    /// The residual stream width W (every trunk's input layer and block outputs).
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
    /// Narrower layers inside residual blocks (width-pruned models); `None` = every layer is `width`
    /// wide. Written to JSON only when present, so uniform configs keep their old bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_widths: Option<InnerWidths>,
    /// A LayerNorm without parameters between the actor's trunk and its two heads (issue 26), so
    /// the heads read a unit-scale input at any depth. Written to JSON only when on, so every other
    /// config (and every checkpoint written before it) keeps its bytes and reads as off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub head_norm: bool,
}

/// Output widths of layers 0, 1 and 2 of every residual block, per trunk: `3 × blocks` entries in
/// block order (`[b0.l0, b0.l1, b0.l2, b1.l0, ...]`), or empty when that trunk is uniform. Layer 3 of
/// a block always maps back to the stream width, so it has no entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InnerWidths {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actor: Vec<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub critic_sa: Vec<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub critic_g: Vec<usize>,
}

/// One of a model's three residual trunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrunkKind {
    /// `actor.trunk`
    Actor,
    /// `critic.sa.trunk` (φ)
    CriticSa,
    /// `critic.g.trunk` (ψ)
    CriticG,
}

impl TrunkKind {
    pub const ALL: [TrunkKind; 3] = [TrunkKind::Actor, TrunkKind::CriticSa, TrunkKind::CriticG];

    /// The checkpoint name prefix of the trunk's tensors (DESIGN.md section 5).
    pub fn prefix(self) -> &'static str {
        match self {
            TrunkKind::Actor => "actor.trunk",
            TrunkKind::CriticSa => "critic.sa.trunk",
            TrunkKind::CriticG => "critic.g.trunk",
        }
    }

    /// The field of [`InnerWidths`] (and its JSON key) for this trunk.
    pub fn field(self) -> &'static str {
        match self {
            TrunkKind::Actor => "actor",
            TrunkKind::CriticSa => "critic_sa",
            TrunkKind::CriticG => "critic_g",
        }
    }
}

impl InnerWidths {
    pub fn get(&self, trunk: TrunkKind) -> &[usize] {
        match trunk {
            TrunkKind::Actor => &self.actor,
            TrunkKind::CriticSa => &self.critic_sa,
            TrunkKind::CriticG => &self.critic_g,
        }
    }

    fn get_mut(&mut self, trunk: TrunkKind) -> &mut Vec<usize> {
        match trunk {
            TrunkKind::Actor => &mut self.actor,
            TrunkKind::CriticSa => &mut self.critic_sa,
            TrunkKind::CriticG => &mut self.critic_g,
        }
    }

    /// True when no trunk lists widths (the same network as no `InnerWidths` at all).
    pub fn is_empty(&self) -> bool {
        TrunkKind::ALL.iter().all(|&t| self.get(t).is_empty())
    }
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
            inner_widths: None,
            head_norm: false,
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

    /// Residual blocks in `trunk` (0 for the critic trunks of an actor-only model).
    pub fn blocks(&self, trunk: TrunkKind) -> usize {
        match trunk {
            TrunkKind::Actor => self.actor_depth / 4,
            TrunkKind::CriticSa | TrunkKind::CriticG => self.critic_depth / 4,
        }
    }

    /// Output widths of layers 0, 1, 2 of each residual block of `trunk`, `width` where the config
    /// lists none. Assumes a validated config (a list of the wrong length reads as uniform).
    pub fn block_inner_widths(&self, trunk: TrunkKind) -> Vec<[usize; 3]> {
        let blocks = self.blocks(trunk);
        let listed = self.inner_widths.as_ref().map(|iw| iw.get(trunk)).unwrap_or_default();
        if listed.len() != 3 * blocks {
            return vec![[self.width; 3]; blocks];
        }
        listed.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
    }

    /// Sets the inner widths of `trunk` (one `[l0, l1, l2]` per block). Widths that are all `width`
    /// are stored as "uniform" (no list, and no `inner_widths` at all when every trunk is uniform), so
    /// an unpruned network keeps the config bytes of the original. Call [`ModelConfig::validate`] after.
    pub fn set_block_inner_widths(&mut self, trunk: TrunkKind, widths: &[[usize; 3]]) {
        let uniform = widths.iter().flatten().all(|&w| w == self.width);
        let mut iw = self.inner_widths.take().unwrap_or_default();
        *iw.get_mut(trunk) = if uniform { Vec::new() } else { widths.iter().flatten().copied().collect() };
        self.inner_widths = (!iw.is_empty()).then_some(iw);
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
        if let Some(iw) = &self.inner_widths {
            for trunk in TrunkKind::ALL {
                self.validate_inner_widths(trunk, iw.get(trunk))?;
            }
        }
        Ok(())
    }

    fn validate_inner_widths(&self, trunk: TrunkKind, widths: &[usize]) -> Result<(), ModelError> {
        let (field, blocks, w) = (trunk.field(), self.blocks(trunk), self.width);
        if widths.is_empty() {
            return Ok(());
        }
        if widths.len() != 3 * blocks {
            let depth = if trunk == TrunkKind::Actor { "actor_depth" } else { "critic_depth" };
            return Err(ModelError::Config(format!(
                "inner_widths.{field} has {} entries, but {} has {blocks} residual blocks \
                 ({depth} {}), so it needs 3 per block ({}: the widths of layers 0, 1, 2 of each \
                 block) or none (every layer {w} wide)",
                widths.len(),
                trunk.prefix(),
                4 * blocks,
                3 * blocks
            )));
        }
        if let Some((i, &v)) = widths.iter().enumerate().find(|(_, &v)| v == 0 || v > w) {
            return Err(ModelError::Config(format!(
                "inner_widths.{field}[{i}] = {v} (block {}, layer {}): an inner width must be between \
                 1 and the residual stream width {w}",
                i / 3,
                i % 3
            )));
        }
        Ok(())
    }
}
