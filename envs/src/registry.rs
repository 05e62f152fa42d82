//! Environments by name, for every stage's `--env` flag.
//!
//! `point_u_maze`, `point_big_maze`, `point_hardest_maze`, `reacher`, each with an `_eval` variant
//! that draws goals from the evaluation distribution (and, for mazes, always starts at `R`).
//! `point_maze` with [`EnvOptions::layout`] runs a maze read from a text file. The MuJoCo robots
//! ([`ROBOT_NAMES`]) build with the `mujoco` feature; without it their names are known, and refused
//! with a message that says how to get them.

use std::path::{Path, PathBuf};

use crate::error::{EnvError, Result};
use crate::point_maze::{Layout, PointMaze, CELL};
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

/// The MuJoCo robots (the `mujoco` feature), each with an `_eval` variant: the reference's ant and
/// humanoid tasks and their mazes (`../shared/tasks.md`).
pub const ROBOT_NAMES: [&str; 14] = [
    "ant",
    "ant_eval",
    "ant_u_maze",
    "ant_u_maze_eval",
    "ant_big_maze",
    "ant_big_maze_eval",
    "ant_hardest_maze",
    "ant_hardest_maze_eval",
    "humanoid",
    "humanoid_eval",
    "humanoid_u_maze",
    "humanoid_u_maze_eval",
    "humanoid_big_maze",
    "humanoid_big_maze_eval",
];

/// Whether `name` is one of the MuJoCo robots.
pub fn is_robot_env(name: &str) -> bool {
    ROBOT_NAMES.contains(&name)
}

/// A user's robot: `mjcf:PATH` names a task file (README "Your robot"); its evaluation variant is
/// `mjcf_eval:PATH`, which starts maze episodes at `R`.
pub const TASK_FILE_PREFIX: &str = "mjcf:";
const TASK_FILE_EVAL_PREFIX: &str = "mjcf_eval:";

/// The task file a `mjcf:PATH` or `mjcf_eval:PATH` name points at.
pub fn task_file_of(name: &str) -> Option<&Path> {
    name.strip_prefix(TASK_FILE_PREFIX).or_else(|| name.strip_prefix(TASK_FILE_EVAL_PREFIX)).map(Path::new)
}

/// The episode length the environment behind `name` sets itself, if it does: a task file's, or a
/// Gymnasium id's registered `max_episode_steps` (stages use it when they are not given one).
pub fn env_episode_length(name: &str) -> Result<Option<usize>> {
    #[cfg(feature = "gym")]
    if is_gym_env(name) {
        return crate::gym::registered_episode_length(name);
    }
    match task_file_of(name) {
        #[cfg(feature = "mujoco")]
        Some(path) => crate::mujoco::task_file::episode_length(path),
        _ => Ok(None),
    }
}

/// A Gymnasium environment (the `gym` feature): `gym:ID` or `gym:MODULE:FACTORY`.
pub const GYM_PREFIX: &str = "gym:";

/// Whether `name` is a Gymnasium environment (`gym:...`); it evaluates on itself, from its own resets.
pub fn is_gym_env(name: &str) -> bool {
    name.starts_with(GYM_PREFIX)
}

/// The suffix of an environment's evaluation variant (its eval goals; mazes start at `R`).
const EVAL_SUFFIX: &str = "_eval";

/// Whether `name` is an evaluation variant.
pub fn is_eval_env(name: &str) -> bool {
    !is_gym_env(name)
        && (name.starts_with(TASK_FILE_EVAL_PREFIX) || (task_file_of(name).is_none() && name.ends_with(EVAL_SUFFIX)))
}

/// The environment a model trained on `env` is evaluated on: `NAME_eval` (`mjcf_eval:PATH` for a
/// task file). `point_maze` (a layout file has no separate eval goals) and evaluation names
/// evaluate on themselves.
pub fn eval_env_name(env: &str) -> String {
    if is_eval_env(env) || env == "point_maze" || is_gym_env(env) {
        env.to_string()
    } else if let Some(path) = env.strip_prefix(TASK_FILE_PREFIX) {
        format!("{TASK_FILE_EVAL_PREFIX}{path}")
    } else {
        format!("{env}{EVAL_SUFFIX}")
    }
}

/// The training environment behind an evaluation variant (a model trained on `X` serves `X_eval` too).
pub fn base_env_name(env: &str) -> std::borrow::Cow<'_, str> {
    match env.strip_prefix(TASK_FILE_EVAL_PREFIX) {
        Some(path) => format!("{TASK_FILE_PREFIX}{path}").into(),
        None if task_file_of(env).is_some() || is_gym_env(env) => env.into(),
        None => env.strip_suffix(EVAL_SUFFIX).unwrap_or(env).into(),
    }
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
    /// Gymnasium environments: keyword arguments for `gymnasium.make` or the factory, as a JSON object.
    pub gym_kwargs: Option<String>,
    /// Gymnasium environments: step the batch in worker processes (`AsyncVectorEnv`).
    pub gym_async: bool,
    /// Gymnasium environments: the distance in goal space within which a goal counts as reached, for
    /// goal chaining and the plots, where the env has no `distance_threshold` of its own (or to
    /// override it). Success itself stays the env's to report.
    pub gym_success_radius: Option<f32>,
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
    if is_gym_env(name) {
        return make_gym(name, num_envs, seed, opts);
    }
    let eval = is_eval_env(name);
    if name.starts_with("point_") {
        let (layout, _) = maze_layout(name, opts.layout.as_deref())?.ok_or_else(|| unknown(name))?;
        let dynamics = PointMaze::new(name, layout, episode_length, opts.random_starts && !eval);
        return Ok(Box::new(VecEnv::new(dynamics, num_envs, seed)?));
    }
    if is_robot_env(name) || task_file_of(name).is_some() {
        return make_robot(name, num_envs, seed, opts);
    }
    match name {
        "reacher" | "reacher_eval" => Ok(Box::new(VecEnv::new(Reacher::new(name, episode_length), num_envs, seed)?)),
        _ => Err(unknown(name)),
    }
}

#[cfg(feature = "mujoco")]
fn make_robot(name: &str, num_envs: usize, seed: u64, opts: &EnvOptions) -> Result<Box<dyn GoalEnv>> {
    let dynamics = match task_file_of(name) {
        Some(path) => {
            let random_starts = opts.random_starts && !is_eval_env(name);
            crate::mujoco::task_file::load(name, path, opts.episode_length, random_starts)?
        }
        None => {
            let len = opts.episode_length.unwrap_or(DEFAULT_EPISODE_LENGTH);
            crate::mujoco::builtin(name, len, opts).ok_or_else(|| unknown(name))??
        }
    };
    Ok(Box::new(VecEnv::new(dynamics, num_envs, seed)?))
}

#[cfg(not(feature = "mujoco"))]
fn make_robot(name: &str, _: usize, _: u64, _: &EnvOptions) -> Result<Box<dyn GoalEnv>> {
    Err(EnvError::Invalid(format!(
        "{name} is a MuJoCo robot, and this build has no MuJoCo: run scripts/mujoco.sh, source \
         .tools/mujoco/env.sh, and build with --features mujoco"
    )))
}

#[cfg(feature = "gym")]
fn make_gym(name: &str, num_envs: usize, seed: u64, opts: &EnvOptions) -> Result<Box<dyn GoalEnv>> {
    crate::gym::make(name, num_envs, seed, opts)
}

#[cfg(not(feature = "gym"))]
fn make_gym(name: &str, _: usize, _: u64, _: &EnvOptions) -> Result<Box<dyn GoalEnv>> {
    Err(EnvError::Invalid(format!(
        "{name} is a Gymnasium environment, and this build has no Python bridge: run scripts/gym.sh, source \
         .tools/gym/env.sh (or activate your own virtualenv with gymnasium), and build with --features gym"
    )))
}

/// The maze environment `name` runs in and its cell size in world units (4 for the point and ant
/// mazes, 2 for the humanoid's): `layout_file` if given, else the built-in layout the name gives
/// (the evaluation layout for `_eval` names). `Ok(None)` for environments without a maze.
pub fn maze_layout(name: &str, layout_file: Option<&Path>) -> Result<Option<(Layout, f32)>> {
    let (maze, cell) = if let Some(m) = name.strip_prefix("point_") {
        (m, CELL)
    } else if let Some(m) = name.strip_prefix("ant_").filter(|_| is_robot_env(name)) {
        (m, CELL)
    } else if let Some(m) = name.strip_prefix("humanoid_").filter(|_| is_robot_env(name)) {
        (m, CELL / 2.0)
    } else {
        return Ok(None);
    };
    let layout = match (layout_file, maze) {
        (Some(path), _) => Layout::from_file(path)?,
        (None, "maze") => return Err(EnvError::Invalid(format!("{name} needs a layout file (--layout FILE)"))),
        (None, m) => match Layout::builtin(m) {
            Some(layout) => layout,
            // `ant_eval`, `humanoid_eval`: no maze.
            None if !name.starts_with("point_") => return Ok(None),
            None => return Err(unknown(name)),
        },
    };
    Ok(Some((layout, cell)))
}

/// The success threshold of environment `name` (the goal distance counted as reached), known from
/// the name alone: a point maze's does not depend on its layout file.
pub fn success_threshold(name: &str) -> Option<f32> {
    if name.starts_with("point_") {
        return Some(crate::point_maze::SUCCESS);
    }
    if is_robot_env(name) {
        return Some(ROBOT_SUCCESS);
    }
    #[cfg(feature = "mujoco")]
    if let Some(path) = task_file_of(name) {
        return crate::mujoco::task_file::success_threshold(path).ok();
    }
    matches!(name, "reacher" | "reacher_eval").then_some(crate::reacher::SUCCESS)
}

/// Success radius of every robot task (the reference's 0.5 in goal space).
pub const ROBOT_SUCCESS: f32 = 0.5;

fn unknown(name: &str) -> EnvError {
    let valid = ENV_NAMES.iter().chain(&ROBOT_NAMES).copied().collect::<Vec<_>>().join(", ");
    EnvError::UnknownEnv { name: name.to_string(), valid }
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
        // A Gymnasium env evaluates on itself, whatever its id ends with.
        for gym in ["gym:PointMaze_UMaze-v3", "gym:my_envs:make_eval"] {
            assert!(!is_eval_env(gym));
            assert_eq!(eval_env_name(gym), gym);
            assert_eq!(base_env_name(gym), gym);
        }
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
