//! A model's deterministic actor (tanh of the mean) as an `envs` evaluation policy: the adapter every
//! stage evaluates teachers, students and baselines through, so they are compared on equal terms.

use envs::eval::Policy;
use models::infer::ActorInfer;

/// The deterministic actor as an evaluation policy.
pub struct Deterministic<'a>(pub &'a mut ActorInfer);

impl Policy for Deterministic<'_> {
    fn act(&mut self, obs: &[f32], n: usize, actions: &mut [f32]) -> envs::Result<()> {
        let a = self.0.act_obs(obs, n).map_err(|e| envs::EnvError::Invalid(e.to_string()))?;
        actions.copy_from_slice(a);
        Ok(())
    }
}
