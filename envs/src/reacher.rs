//! `reacher`: a two-link planar arm reaching a target (semantic port of brax's reacher). STUB: the
//! dynamics are being written; this placeholder only fixes the interface.

use rand_chacha::ChaCha8Rng;

use crate::vec_env::Dynamics;
use crate::EnvSpec;

#[derive(Clone, Debug, PartialEq)]
pub struct ReacherState {
    pub q: [f32; 2],
    pub qd: [f32; 2],
    pub target: [f32; 2],
}

#[derive(Clone, Debug)]
pub struct Reacher {
    spec: EnvSpec,
}

impl Reacher {
    pub fn new(name: &str, episode_length: usize) -> Self {
        let spec = EnvSpec {
            name: name.to_string(),
            state_dim: 10,
            goal_dim: 3,
            goal_indices: vec![4, 5, 6],
            action_dim: 2,
            episode_length,
            success_threshold: 0.05,
        };
        Reacher { spec }
    }
}

impl Dynamics for Reacher {
    type State = ReacherState;

    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&self, _rng: &mut ChaCha8Rng) -> ReacherState {
        ReacherState { q: [0.0; 2], qd: [0.0; 2], target: [0.1, 0.0] }
    }

    fn step(&self, _s: &mut ReacherState, _action: &[f32], _rng: &mut ChaCha8Rng) {}

    fn observe(&self, _s: &ReacherState, out: &mut [f32]) {
        out[..13].fill(0.0);
    }
}
