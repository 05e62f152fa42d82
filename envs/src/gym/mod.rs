//! Gymnasium environments through an embedded Python interpreter (the `gym` feature, issue 27).
//!
//! `gym:ID` makes a registered id with `gymnasium.make` (Gymnasium-Robotics' ids are registered when
//! it is installed); `gym:MODULE:FACTORY` imports `MODULE` and calls `FACTORY(**kwargs)`, a callable
//! that returns one env. [`EnvOptions::gym_kwargs`] (JSON) go to either; the batch is a Gymnasium
//! vector env, synchronous unless [`EnvOptions::gym_async`].
//!
//! The mapping, here and nowhere else: deepcrl's state is `observation` followed by `achieved_goal`,
//! its goal indices are the `achieved_goal` part, its commanded goal is `desired_goal`. Success is
//! `info["is_success"]` (Fetch, Stable-Baselines3) or `info["success"]` (Gymnasium-Robotics' mazes),
//! else `compute_reward(achieved, desired, None) == 0`. Terminated and truncated are Gymnasium's;
//! episodes are cut at the episode length by Gymnasium's `TimeLimit` (the registered
//! `max_episode_steps` unless a length is given). Actions in [−1, 1] are scaled to the action Box.
//! The success radius ([`EnvSpec::success_threshold`]) is [`EnvOptions::gym_success_radius`] where
//! given, else the env's `distance_threshold` where it has one, else 0 (no goal chaining, no radius
//! in plots).
//!
//! The interpreter is the one this build linked (PyO3), with `$VIRTUAL_ENV`'s packages first on its
//! path. The GIL is held only inside calls into the env.
//!
//! [`EnvSpec::success_threshold`]: crate::EnvSpec::success_threshold

mod python;
mod vector;

#[cfg(test)]
mod tests;

pub use vector::GymEnv;

use pyo3::prelude::*;

use crate::error::{EnvError, Result};
use crate::{EnvOptions, GoalEnv};

use crate::registry::GYM_PREFIX as PREFIX;

/// What a `gym:` name points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    target: String,
    factory: bool,
}

impl Target {
    /// Parses `gym:ID` or `gym:MODULE:FACTORY`. A name whose last `:`-separated part is a (dotted)
    /// Python identifier is a factory; anything else (`PointMaze_UMaze-v3`, Gymnasium's own
    /// `module:Env-v0`) is a registered id.
    pub(crate) fn parse(name: &str) -> Option<Result<Self>> {
        let target = name.strip_prefix(PREFIX)?;
        if target.is_empty() {
            return Some(Err(EnvError::Invalid(
                "gym: needs an environment: gym:ID (a registered Gymnasium id) or gym:MODULE:FACTORY".into(),
            )));
        }
        let factory = target.rsplit_once(':').is_some_and(|(module, f)| !module.is_empty() && is_identifier_path(f));
        Some(Ok(Target { target: target.to_string(), factory }))
    }

    pub(crate) fn name(&self) -> String {
        format!("{PREFIX}{}", self.target)
    }

    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    pub(crate) fn is_factory(&self) -> bool {
        self.factory
    }

    /// The registry's `max_episode_steps` for an id; `None` for a factory or an id without one.
    pub(crate) fn registered_episode_length(&self) -> Result<Option<usize>> {
        if self.factory {
            return Ok(None);
        }
        python::attach(|py| {
            let got = python::bridge(py)?.getattr("registered_episode_length").and_then(|f| f.call1((&self.target,)));
            got.and_then(|n| n.extract())
                .map_err(|e| python::python_error(py, &format!("looking up {}", self.name()), &e))
        })
    }
}

fn is_identifier_path(s: &str) -> bool {
    s.split('.').all(|part| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// A batch of `num_envs` Gymnasium environments named `name` (`gym:...`), reset with `seed`.
pub fn make(name: &str, num_envs: usize, seed: u64, opts: &EnvOptions) -> Result<Box<dyn GoalEnv>> {
    let target = Target::parse(name).ok_or_else(|| EnvError::Invalid(format!("{name} is not a gym: name")))??;
    Ok(Box::new(GymEnv::new(&target, num_envs, seed, opts)?))
}

/// The episode length a `gym:ID` is registered with, for stages not given one.
pub fn registered_episode_length(name: &str) -> Result<Option<usize>> {
    match Target::parse(name) {
        Some(target) => target?.registered_episode_length(),
        None => Ok(None),
    }
}
