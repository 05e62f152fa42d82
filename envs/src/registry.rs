//! Environments by name, for every stage's `--env` flag.
//!
//! `point_u_maze`, `point_big_maze`, `point_hardest_maze`, `reacher`, each with an `_eval` variant
//! that draws goals from the evaluation distribution (and, for mazes, always starts at `R`).
//! `point_maze` with [`EnvOptions::layout`] runs a maze read from a text file.

use std::path::PathBuf;

use crate::error::{EnvError, Result};
use crate::point_maze::{Layout, PointMaze};
use crate::reacher::Reacher;
use crate::vec_env::VecEnv;
use crate::GoalEnv;

/// Every name [`make`] accepts.
pub const ENV_NAMES: [&str; 9] = [
    "point_u_maze",
    "point_u_maze_eval",
    "point_big_maze",
    "point_big_maze_eval",
    "point_hardest_maze",
    "point_hardest_maze_eval",
    "reacher",
    "reacher_eval",
    "point_maze",
];

/// The suffix of an environment's evaluation variant (its eval goals; mazes start at `R`).
const EVAL_SUFFIX: &str = "_eval";

/// Whether `name` is an evaluation variant.
pub fn is_eval_env(name: &str) -> bool {
    name.ends_with(EVAL_SUFFIX)
}

/// The environment a model trained on `env` is evaluated on: `NAME_eval`. `point_maze` (a layout file
/// has no separate eval goals) and names already ending in `_eval` evaluate on themselves.
pub fn eval_env_name(env: &str) -> String {
    if is_eval_env(env) || env == "point_maze" {
        env.to_string()
    } else {
        format!("{env}{EVAL_SUFFIX}")
    }
}

/// The training environment behind an evaluation variant (a model trained on `X` serves `X_eval` too).
pub fn base_env_name(env: &str) -> &str {
    env.strip_suffix(EVAL_SUFFIX).unwrap_or(env)
}

/// Episode length when none is given (the paper's).
pub const DEFAULT_EPISODE_LENGTH: usize = 1000;

/// Choices beyond the name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnvOptions {
    /// Steps per episode; `None` = [`DEFAULT_EPISODE_LENGTH`].
    pub episode_length: Option<usize>,
    /// Mazes: start training episodes in any free cell instead of `R` (ignored for `_eval`).
    pub random_starts: bool,
    /// Mazes: a layout file (required for `point_maze`, replaces the built-in layout otherwise).
    pub layout: Option<PathBuf>,
}

/// A batch of `num_envs` environments called `name`, seeded with `seed`, with default options.
pub fn make(name: &str, num_envs: usize, seed: u64) -> Result<Box<dyn GoalEnv>> {
    make_with(name, num_envs, seed, &EnvOptions::default())
}

pub fn make_with(name: &str, num_envs: usize, seed: u64, opts: &EnvOptions) -> Result<Box<dyn GoalEnv>> {
    let episode_length = opts.episode_length.unwrap_or(DEFAULT_EPISODE_LENGTH);
    if episode_length == 0 {
        return Err(EnvError::Invalid("episode_length must be at least 1".into()));
    }
    let eval = is_eval_env(name);
    if let Some(maze) = name.strip_prefix("point_") {
        let layout = match (&opts.layout, maze) {
            (Some(path), _) => Layout::from_file(path)?,
            (None, "maze") => {
                return Err(EnvError::Invalid("point_maze needs a layout file (--layout FILE)".into()));
            }
            (None, m) => Layout::builtin(m).ok_or_else(|| unknown(name))?,
        };
        let dynamics = PointMaze::new(name, layout, episode_length, opts.random_starts && !eval);
        return Ok(Box::new(VecEnv::new(dynamics, num_envs, seed)?));
    }
    match name {
        "reacher" | "reacher_eval" => Ok(Box::new(VecEnv::new(Reacher::new(name, episode_length), num_envs, seed)?)),
        _ => Err(unknown(name)),
    }
}

/// The success threshold of environment `name` (the goal distance counted as reached), known from
/// the name alone: a point maze's does not depend on its layout file.
pub fn success_threshold(name: &str) -> Option<f32> {
    if name.starts_with("point_") {
        return Some(crate::point_maze::SUCCESS);
    }
    matches!(name, "reacher" | "reacher_eval").then_some(crate::reacher::SUCCESS)
}

fn unknown(name: &str) -> EnvError {
    EnvError::UnknownEnv { name: name.to_string(), valid: ENV_NAMES.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_names_round_trip_through_the_base_name() {
        for name in ENV_NAMES.iter().filter(|n| !is_eval_env(n) && **n != "point_maze") {
            let eval = eval_env_name(name);
            assert!(ENV_NAMES.contains(&eval.as_str()), "{eval} is registered");
            assert_eq!(base_env_name(&eval), *name);
            assert_eq!(eval_env_name(&eval), eval, "an eval name evaluates on itself");
        }
        assert_eq!(eval_env_name("point_maze"), "point_maze");
    }

    #[test]
    fn every_name_builds_and_unknown_names_list_the_valid_ones() {
        for name in ENV_NAMES.iter().filter(|n| **n != "point_maze") {
            let env = make(name, 3, 0).unwrap();
            assert_eq!(env.spec().name, *name);
            assert_eq!(env.observations().len(), 3 * env.spec().obs_dim());
        }
        for name in ENV_NAMES.iter().filter(|n| **n != "point_maze") {
            let env = make(name, 1, 0).unwrap();
            assert_eq!(success_threshold(name), Some(env.spec().success_threshold), "{name}");
        }
        assert_eq!(success_threshold("point_maze"), Some(crate::point_maze::SUCCESS));
        assert_eq!(success_threshold("no_such_env"), None);
        let e = make("point_x_maze", 1, 0).err().unwrap().to_string();
        assert!(e.contains("unknown environment") && e.contains("point_big_maze_eval"), "{e}");
        let e = make("point_maze", 1, 0).err().unwrap().to_string();
        assert!(e.contains("--layout"), "{e}");
        let e = make("reacher", 0, 0).err().unwrap().to_string();
        assert!(e.contains("num_envs"), "{e}");
    }
}
