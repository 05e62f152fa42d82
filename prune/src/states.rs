//! The states pruning is scored on: observations visited by the source model's own deterministic actor
//! on the environment's evaluation goals, spread over whole episodes, with the action it takes there
//! (the critic's `(s, a)` input). Deterministic in the seed.

use crate::error::{ensure, Context, Result};
use candle_core::{Device, Tensor};
use envs::{make_with, EnvOptions};
use models::config::TrunkKind;
use models::infer::ActorInfer;
use models::Model;

/// Environments stepped together while gathering.
const GATHER_ENVS: usize = 32;

/// `rows` observations `[state, goal]` and the deterministic actions taken there.
#[derive(Clone, Debug)]
pub struct EvalStates {
    pub rows: usize,
    pub state_dim: usize,
    pub goal_dim: usize,
    pub action_dim: usize,
    pub obs: Vec<f32>,
    pub actions: Vec<f32>,
}

impl EvalStates {
    /// Rolls `model`'s deterministic actor on `env`'s eval goals (episodes of `episode_length` steps)
    /// and keeps `rows` observations, taken every few steps so they cover whole episodes.
    pub fn gather(model: &Model, env: &str, opts: &EnvOptions, rows: usize, seed: u64) -> Result<Self> {
        let episode_length = opts.episode_length.unwrap_or(envs::registry::DEFAULT_EPISODE_LENGTH);
        ensure!(rows > 0, "scoring needs at least one state");
        let n = rows.min(GATHER_ENVS);
        let mut env = make_with(&envs::eval_env_name(env), n, seed, opts)?;
        let spec = env.spec().clone();
        let c = &model.cfg;
        ensure!(
            (spec.state_dim, spec.goal_dim, spec.action_dim) == (c.state_dim, c.goal_dim, c.action_dim),
            "{}: the model (state {}, goal {}, action {}) does not fit this environment (state {}, goal {}, \
             action {}); pick a matching --env",
            spec.name,
            c.state_dim,
            c.goal_dim,
            c.action_dim,
            spec.state_dim,
            spec.goal_dim,
            spec.action_dim
        );
        let snapshots = rows.div_ceil(n);
        let stride = (episode_length / snapshots).max(1);
        let mut actor = ActorInfer::new(model);
        let (od, ad) = (spec.obs_dim(), spec.action_dim);
        let (mut obs, mut actions) = (Vec::with_capacity(rows * od), Vec::with_capacity(rows * ad));
        let mut t = 0;
        while obs.len() < rows * od {
            let a = actor.act_obs(env.observations(), n).context("the model's actor")?.to_vec();
            if t % stride == 0 {
                let take = (rows - obs.len() / od).min(n);
                obs.extend_from_slice(&env.observations()[..take * od]);
                actions.extend_from_slice(&a[..take * ad]);
            }
            env.step(&a)?;
            t += 1;
        }
        Ok(EvalStates { rows, state_dim: spec.state_dim, goal_dim: spec.goal_dim, action_dim: ad, obs, actions })
    }

    /// The actor's input, `[rows, state + goal]`.
    pub fn obs_tensor(&self) -> Result<Tensor> {
        Ok(Tensor::from_slice(&self.obs, (self.rows, self.state_dim + self.goal_dim), &Device::Cpu)?)
    }

    /// φ's input, `[rows, state + action]`.
    pub fn sa_tensor(&self) -> Result<Tensor> {
        let obs = self.obs_tensor()?;
        let a = Tensor::from_slice(&self.actions, (self.rows, self.action_dim), &Device::Cpu)?;
        Ok(Tensor::cat(&[&obs.narrow(1, 0, self.state_dim)?, &a], 1)?)
    }

    /// ψ's input, `[rows, goal]`: the commanded goals.
    pub fn goal_tensor(&self) -> Result<Tensor> {
        Ok(self.obs_tensor()?.narrow(1, self.state_dim, self.goal_dim)?.contiguous()?)
    }

    /// The input of `trunk` on these states.
    pub fn input(&self, trunk: TrunkKind) -> Result<Tensor> {
        match trunk {
            TrunkKind::Actor => self.obs_tensor(),
            TrunkKind::CriticSa => self.sa_tensor(),
            TrunkKind::CriticG => self.goal_tensor(),
        }
    }
}
