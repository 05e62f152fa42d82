//! Your robot: `--env mjcf:PATH/task.toml`, an MJCF model plus a small task file (README "Your
//! robot" documents the format; `examples/robots/` has two).
//!
//! The state is the model's `qpos` and `qvel` (less any dropped entries), followed by the goal
//! body's or site's position when the goal is one: the goal is always a slice of the state. Every
//! mistake is an error that names the task file, the key and the fix.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mujoco_rs::mujoco_c::mjtIntegrator;
use mujoco_rs::prelude::{MjModel, MjtObjBase};
use serde::Deserialize;

use super::robots::{maze_goals_and_starts, with_maze_walls};
use super::{observation_len, Coord, GoalSampler, MjEnv, ObsPart, Task, Termination};
use crate::error::{EnvError, Result};
use crate::point_maze::Layout;
use crate::EnvSpec;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskFile {
    model: PathBuf,
    #[serde(default = "default_frame_skip")]
    frame_skip: usize,
    timestep: Option<f64>,
    integrator: Option<String>,
    episode_length: Option<usize>,
    success_threshold: f32,
    #[serde(default)]
    observation: ObservationKeys,
    goal: GoalKeys,
    termination: Option<TerminationKeys>,
    #[serde(default)]
    reset: ResetKeys,
}

fn default_frame_skip() -> usize {
    5
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObservationKeys {
    #[serde(default)]
    drop_qpos: Vec<usize>,
    #[serde(default)]
    drop_qvel: Vec<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GoalKeys {
    body: Option<String>,
    site: Option<String>,
    qpos: Option<Vec<usize>>,
    /// Which axes of the body's or site's position (0 = x, 1 = y, 2 = z); all three by default.
    axes: Option<Vec<usize>>,
    sampler: SamplerKeys,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum SamplerKeys {
    Box { lo: Vec<f32>, hi: Vec<f32> },
    Points { points: Vec<Vec<f32>> },
    Maze { layout: String, cell: f32, start_qpos: Option<Vec<usize>> },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TerminationKeys {
    body: Option<String>,
    qpos: Option<usize>,
    #[serde(default = "default_axis")]
    axis: usize,
    min: f64,
    max: f64,
}

fn default_axis() -> usize {
    2
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetKeys {
    #[serde(default)]
    qpos_noise: f64,
    #[serde(default)]
    qvel_noise: f64,
}

/// The episode length a task file sets, if it sets one (for stages that were not given one).
pub fn episode_length(path: &Path) -> Result<Option<usize>> {
    Ok(read(path)?.episode_length)
}

/// The task file's success threshold.
pub fn success_threshold(path: &Path) -> Result<f32> {
    Ok(read(path)?.success_threshold)
}

fn read(path: &Path) -> Result<TaskFile> {
    let text = std::fs::read_to_string(path).map_err(|e| EnvError::Io {
        context: format!("cannot read the task file {} (--env mjcf:PATH names a robot's task file)", path.display()),
        source: e,
    })?;
    toml::from_str(&text).map_err(|e| EnvError::Invalid(format!("task file {}: {e}", path.display())))
}

/// Builds `mjcf:PATH` (`name`) from the task file at `path`.
pub fn load(name: &str, path: &Path, episode_length: Option<usize>, random_starts: bool) -> Result<MjEnv> {
    let f = read(path)?;
    super::route_mujoco_messages();
    let bad = |key: &str, msg: String| EnvError::Invalid(format!("task file {}: {key}: {msg}", path.display()));
    let dir = path.parent().unwrap_or(Path::new("."));
    let model_path = dir.join(&f.model);
    let maze = match &f.goal.sampler {
        SamplerKeys::Maze { layout, cell, .. } => {
            if !(cell.is_finite() && *cell > 0.0) {
                return Err(bad("goal.sampler.cell", format!("{cell} is not a positive cell size in metres")));
            }
            let layout = Layout::builtin(layout).map_or_else(|| Layout::from_file(&dir.join(layout)), Ok)?;
            Some((layout, f64::from(*cell)))
        }
        _ => None,
    };
    let model = match &maze {
        // Walls are added to the text, which MuJoCo then reads from memory: such a model cannot
        // name mesh or texture files beside it.
        Some((layout, cell)) => {
            let xml = std::fs::read_to_string(&model_path).map_err(|e| EnvError::Io {
                context: format!(
                    "task file {}: model = {:?}: cannot read {}",
                    path.display(),
                    f.model,
                    model_path.display()
                ),
                source: e,
            })?;
            MjModel::from_xml_string(&with_maze_walls(&xml, layout, *cell)?)
        }
        None => MjModel::from_xml(&model_path),
    }
    .map_err(|e| bad("model", format!("MuJoCo could not load {}: {e}; fix the MJCF file", model_path.display())))?;
    let mut model = model;
    if let Some(dt) = f.timestep {
        if !(dt.is_finite() && dt > 0.0) {
            return Err(bad("timestep", format!("{dt} is not a positive number of seconds")));
        }
        model.opt_mut().timestep = dt;
    }
    if let Some(name) = &f.integrator {
        let i = match name.as_str() {
            "euler" => mjtIntegrator::mjINT_EULER,
            "rk4" => mjtIntegrator::mjINT_RK4,
            "implicit" => mjtIntegrator::mjINT_IMPLICIT,
            "implicitfast" => mjtIntegrator::mjINT_IMPLICITFAST,
            _ => return Err(bad("integrator", format!("{name:?} is not one of euler, rk4, implicit, implicitfast"))),
        };
        model.opt_mut().integrator = i as i32;
    }
    if f.episode_length == Some(0) {
        return Err(bad("episode_length", "must be at least 1 step".into()));
    }
    if f.frame_skip == 0 {
        return Err(bad("frame_skip", "must be at least 1 physics step per control step".into()));
    }
    if !(f.success_threshold.is_finite() && f.success_threshold > 0.0) {
        return Err(bad("success_threshold", format!("{} is not a positive distance", f.success_threshold)));
    }
    let (nq, nv) = (model.ffi().nq as usize, model.ffi().nv as usize);
    let id_of = |kind: MjtObjBase, what: &str, key: &str, name: &str| -> Result<usize> {
        let n = match kind {
            MjtObjBase::mjOBJ_BODY => model.ffi().nbody,
            _ => model.ffi().nsite,
        } as usize;
        let names: Vec<&str> = (0..n).filter_map(|i| model.id_to_name(kind, i)).collect();
        (!name.contains('\0')).then(|| model.name_to_id(kind, name)).flatten().ok_or_else(|| {
            bad(key, format!("the model has no {what} named {name:?}; its {what}s are: {}", names.join(", ")))
        })
    };
    let keep = |n: usize, drop: &[usize], key: &str| -> Result<Vec<usize>> {
        if let Some(&i) = drop.iter().find(|&&i| i >= n) {
            return Err(bad(key, format!("index {i} is out of range: the model has {n}")));
        }
        Ok((0..n).filter(|i| !drop.contains(i)).collect())
    };
    let qpos_kept = keep(nq, &f.observation.drop_qpos, "observation.drop_qpos")?;
    let qvel_kept = keep(nv, &f.observation.drop_qvel, "observation.drop_qvel")?;
    let axes = f.goal.axes.clone().unwrap_or_else(|| vec![0, 1, 2]);
    if axes.is_empty() || axes.iter().any(|&a| a > 2) {
        return Err(bad("goal.axes", format!("{axes:?}: give axes among 0 (x), 1 (y) and 2 (z)")));
    }
    let mut obs = vec![ObsPart::Qpos(qpos_kept.clone()), ObsPart::Qvel(qvel_kept.clone())];
    let goal_indices = match (&f.goal.body, &f.goal.site, &f.goal.qpos) {
        (Some(b), None, None) => {
            let id = id_of(MjtObjBase::mjOBJ_BODY, "body", "goal.body", b)?;
            obs.push(ObsPart::Coords(axes.iter().map(|&axis| Coord::Body { id, axis }).collect()));
            (qpos_kept.len() + qvel_kept.len()..).take(axes.len()).collect()
        }
        (None, Some(s), None) => {
            let id = id_of(MjtObjBase::mjOBJ_SITE, "site", "goal.site", s)?;
            obs.push(ObsPart::Coords(axes.iter().map(|&axis| Coord::Site { id, axis }).collect()));
            (qpos_kept.len() + qvel_kept.len()..).take(axes.len()).collect()
        }
        (None, None, Some(q)) => {
            let positions: Option<Vec<usize>> = q.iter().map(|i| qpos_kept.iter().position(|k| k == i)).collect();
            positions.filter(|p| !p.is_empty()).ok_or_else(|| {
                bad("goal.qpos", format!("{q:?} must name observed qpos entries (the model has {nq}; none dropped)"))
            })?
        }
        _ => return Err(bad("goal", "give exactly one of body = NAME, site = NAME or qpos = [indices]".into())),
    };
    let goal_dim = goal_indices.len();
    let (goals, starts, offset_indices) = sampler(&f.goal.sampler, maze.as_ref(), goal_dim, random_starts, nq, &bad)?;
    if let Some(q) = &f.goal.qpos {
        within_joint_ranges(&model, q, &goals, &bad)?;
    }
    let termination = match &f.termination {
        None => None,
        Some(t) => {
            // NaN bounds fail too.
            if t.min.partial_cmp(&t.max) != Some(std::cmp::Ordering::Less) {
                return Err(bad("termination", format!("min {} must be below max {}", t.min, t.max)));
            }
            let coord = match (&t.body, t.qpos) {
                (Some(b), None) if t.axis <= 2 => {
                    Coord::Body { id: id_of(MjtObjBase::mjOBJ_BODY, "body", "termination.body", b)?, axis: t.axis }
                }
                (Some(_), None) => return Err(bad("termination.axis", format!("{} is not 0, 1 or 2", t.axis))),
                (None, Some(i)) if i < nq => Coord::Qpos(i),
                (None, Some(i)) => return Err(bad("termination.qpos", format!("{i} is out of range: nq = {nq}"))),
                _ => return Err(bad("termination", "give one of body = NAME (with axis) or qpos = INDEX".into())),
            };
            Some(Termination { coord, min: t.min, max: t.max })
        }
    };
    for (key, x) in [("reset.qpos_noise", f.reset.qpos_noise), ("reset.qvel_noise", f.reset.qvel_noise)] {
        if !(x.is_finite() && x >= 0.0) {
            return Err(bad(key, format!("{x} is not a non-negative number")));
        }
    }
    let spec = EnvSpec {
        name: name.to_string(),
        state_dim: observation_len(&model, &obs),
        goal_dim,
        goal_indices,
        action_dim: model.ffi().nu as usize,
        episode_length: episode_length.or(f.episode_length).unwrap_or(crate::registry::DEFAULT_EPISODE_LENGTH),
        success_threshold: f.success_threshold,
    };
    if spec.action_dim == 0 {
        return Err(bad("model", "the model has no actuators: add <actuator> entries for the policy to drive".into()));
    }
    MjEnv::new(Task {
        spec,
        model: Arc::new(model),
        frame_skip: f.frame_skip,
        obs,
        goals,
        starts,
        offset_indices,
        qpos_noise: f.reset.qpos_noise,
        qvel_noise: f.reset.qvel_noise,
        termination,
    })
}

type Sampled = (GoalSampler, Vec<Vec<f64>>, Vec<usize>);

fn sampler(
    keys: &SamplerKeys,
    maze: Option<&(Layout, f64)>,
    goal_dim: usize,
    random_starts: bool,
    nq: usize,
    bad: &dyn Fn(&str, String) -> EnvError,
) -> Result<Sampled> {
    let finite = |key: &str, v: &[f32]| -> Result<()> {
        match v.iter().find(|x| !x.is_finite()) {
            Some(x) => Err(bad(key, format!("{x} is not a finite number"))),
            None => Ok(()),
        }
    };
    let sized = |key: &str, v: &[f32]| -> Result<()> {
        finite(key, v)?;
        if v.len() == goal_dim {
            Ok(())
        } else {
            Err(bad(key, format!("has {} numbers but the goal has {goal_dim}", v.len())))
        }
    };
    match (keys, maze) {
        (SamplerKeys::Box { lo, hi }, _) => {
            sized("goal.sampler.lo", lo)?;
            sized("goal.sampler.hi", hi)?;
            if let Some(k) = lo.iter().zip(hi).position(|(l, h)| l > h) {
                return Err(bad("goal.sampler", format!("lo[{k}] = {} is above hi[{k}] = {}", lo[k], hi[k])));
            }
            Ok((GoalSampler::Box { lo: lo.clone(), hi: hi.clone() }, vec![], vec![]))
        }
        (SamplerKeys::Points { points }, _) => {
            if points.is_empty() {
                return Err(bad("goal.sampler.points", "give at least one point".into()));
            }
            for p in points {
                sized("goal.sampler.points", p)?;
            }
            Ok((GoalSampler::Points(points.clone()), vec![], vec![]))
        }
        (SamplerKeys::Maze { start_qpos, .. }, Some((layout, cell))) => {
            if goal_dim != 2 {
                return Err(bad(
                    "goal.sampler",
                    format!("a maze places 2-D goals (x, y) but the goal has {goal_dim} numbers"),
                ));
            }
            let start_qpos = start_qpos.clone().unwrap_or_else(|| vec![0, 1]);
            if start_qpos.len() != 2 || start_qpos.iter().any(|&i| i >= nq) {
                return Err(bad(
                    "goal.sampler.start_qpos",
                    format!("{start_qpos:?}: give the 2 qpos entries (x, y) that place the robot; nq = {nq}"),
                ));
            }
            let (goals, starts) = maze_goals_and_starts(layout, *cell, &[], random_starts);
            Ok((goals, starts, start_qpos))
        }
        (SamplerKeys::Maze { .. }, None) => Err(bad("goal.sampler", "the maze layout could not be read".into())),
    }
}

/// Goals on `qpos` entries must lie inside the ranges of the limited joints they belong to: a goal
/// the robot cannot reach is a mistake in the task file.
fn within_joint_ranges(
    model: &MjModel,
    qpos: &[usize],
    goals: &GoalSampler,
    bad: &dyn Fn(&str, String) -> EnvError,
) -> Result<()> {
    let (adr, limited, range) = (model.jnt_qposadr(), model.jnt_limited(), model.jnt_range());
    let points: Vec<&[f32]> = match goals {
        GoalSampler::Box { lo, hi } => vec![lo, hi],
        GoalSampler::Points(p) => p.iter().map(Vec::as_slice).collect(),
        GoalSampler::Ring { .. } => vec![],
    };
    for (k, &q) in qpos.iter().enumerate() {
        // A hinge or slide joint owns exactly its qpos entry; free and ball joints have no range.
        let Some(j) = adr.iter().position(|&a| a as usize == q).filter(|&j| limited[j]) else { continue };
        let [lo, hi] = range[j];
        if let Some(p) = points.iter().find(|p| !(lo..=hi).contains(&f64::from(p[k]))) {
            return Err(bad(
                "goal.sampler",
                format!(
                    "goal coordinate {k} = {} lies outside joint {j}'s range [{lo}, {hi}] (qpos {q}); sample inside it",
                    p[k]
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "task_file_tests.rs"]
mod tests;
