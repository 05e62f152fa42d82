//! The paper's robots by name: `ant`, `humanoid` and their mazes (`../shared/tasks.md` gives the
//! reference's definitions; this is a semantic port onto MuJoCo).
//!
//! The models are gymnasium's classic `ant.xml` and `humanoid.xml`, installed by `scripts/mujoco.sh`
//! and found through `DEEPCRL_MUJOCO_MODELS`. Mazes use the point mazes' layouts, scaled to the
//! robot's cell size (4 for the ant, 2 for the humanoid), with one box geom per wall cell.

use std::path::PathBuf;
use std::sync::Arc;

use mujoco_rs::mujoco_c::mjtIntegrator;
use mujoco_rs::prelude::MjModel;

use super::{observation_len, Coord, GoalSampler, MjEnv, ObsPart, Task, Termination};
use crate::error::{EnvError, Result};
use crate::point_maze::{Layout, CELL};
use crate::registry::{is_eval_env, is_robot_env, maze_layout, EnvOptions, ROBOT_SUCCESS};
use crate::EnvSpec;

/// The environment variable naming the folder with `ant.xml` and `humanoid.xml`.
pub const MODEL_DIR_VAR: &str = "DEEPCRL_MUJOCO_MODELS";

/// The folder the models are read from: `DEEPCRL_MUJOCO_MODELS`, else where `scripts/mujoco.sh`
/// puts them in this source tree.
pub fn model_dir() -> PathBuf {
    std::env::var_os(MODEL_DIR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.tools/mujoco/models")))
}

/// Physics steps per control step. With the model files' own physics steps (0.01 s for the ant,
/// 0.003 s for the humanoid) the control steps are the reference's: 0.05 s and 0.015 s. The
/// reference reaches them with 10 steps half as long; halving the physics work is what lets 2
/// cores run 30,000 ant steps per second.
pub const FRAME_SKIP: usize = 5;

fn read_model_text(file: &str) -> Result<String> {
    let path = model_dir().join(file);
    std::fs::read_to_string(&path).map_err(|e| EnvError::Io {
        context: format!(
            "cannot read the MuJoCo model {}: run scripts/mujoco.sh, or set {MODEL_DIR_VAR} to the folder holding {file}",
            path.display()
        ),
        source: e,
    })
}

/// Compiles MJCF text; MuJoCo's own message says what is wrong.
pub fn compile(name: &str, xml: &str) -> Result<MjModel> {
    super::route_mujoco_messages();
    MjModel::from_xml_string(xml).map_err(|e| EnvError::Invalid(format!("{name}: MuJoCo rejected the model: {e}")))
}

/// `xml` with one static box per wall cell of `layout`, cells `cell` wide, walls as tall as wide.
pub fn with_maze_walls(xml: &str, layout: &Layout, cell: f64) -> Result<String> {
    let at = xml.rfind("</worldbody>").ok_or_else(|| EnvError::Invalid("the model has no </worldbody>".into()))?;
    let h = cell / 2.0;
    let mut walls = String::new();
    for i in 0..layout.rows {
        for j in 0..layout.cols {
            if layout.is_wall(i as i64, j as i64) {
                let [x, y] = maze_point(Layout::center(i, j), cell);
                walls.push_str(&format!(
                    "    <geom name=\"maze_wall_{i}_{j}\" type=\"box\" pos=\"{x} {y} {h}\" size=\"{h} {h} {h}\" \
                     contype=\"1\" conaffinity=\"1\" rgba=\"0.7 0.5 0.3 1\"/>\n"
                ));
            }
        }
    }
    Ok(format!("{}{walls}{}", &xml[..at], &xml[at..]))
}

/// A point maze position scaled to a robot maze whose cells are `cell` wide.
pub fn maze_point(p: [f32; 2], cell: f64) -> [f64; 2] {
    let s = cell / f64::from(CELL);
    [f64::from(p[0]) * s, f64::from(p[1]) * s]
}

/// A maze's goals (the G cells' centres, followed by the fixed coordinates `rest`) and its start
/// offsets (any free cell with `random_starts`, else R), for cells `cell` wide.
pub fn maze_goals_and_starts(
    layout: &Layout,
    cell: f64,
    rest: &[f32],
    random_starts: bool,
) -> (GoalSampler, Vec<Vec<f64>>) {
    let at = |(i, j): (usize, usize)| maze_point(Layout::center(i, j), cell);
    let goals = layout
        .goal_cells()
        .into_iter()
        .map(|c| at(c).iter().map(|&x| x as f32).chain(rest.iter().copied()).collect())
        .collect();
    let cells = if random_starts { layout.free_cells() } else { vec![layout.start()] };
    (GoalSampler::Points(goals), cells.into_iter().map(|c| at(c).to_vec()).collect())
}

/// The built-in robot environment `name`, or `None` if the name is not one.
pub fn builtin(name: &str, episode_length: usize, opts: &EnvOptions) -> Option<Result<MjEnv>> {
    is_robot_env(name).then(|| build(name, episode_length, opts))
}

fn build(name: &str, episode_length: usize, opts: &EnvOptions) -> Result<MjEnv> {
    let ant = name.starts_with("ant");
    let eval = is_eval_env(name);
    let (file, timestep) = if ant { ("ant.xml", 0.01) } else { ("humanoid.xml", 0.003) };
    let mut xml = read_model_text(file)?;
    let maze = maze_layout(name, opts.layout.as_deref())?;
    if let Some((l, cell)) = &maze {
        xml = with_maze_walls(&xml, l, f64::from(*cell))?;
    }
    let mut model = compile(name, &xml)?;
    // Semi-implicit Euler, as brax's "spring" pipeline that the reference trains on; the files' RK4
    // costs four model evaluations per physics step (the ant's control step measured 3.4× slower).
    let opt = model.opt_mut();
    opt.timestep = timestep;
    opt.integrator = mjtIntegrator::mjINT_EULER as i32;
    let nq = model.ffi().nq as usize;
    let nv = model.ffi().nv as usize;
    let nu = model.ffi().nu as usize;
    let goal_dim = if ant { 2 } else { 3 };
    // The humanoid's goal height is fixed at its standing torso height, as in the reference.
    let rest: Vec<f32> = if ant { vec![] } else { vec![1.25] };
    let (goals, starts) = match &maze {
        None if ant => (GoalSampler::Ring { center: [0.0, 0.0], r_min: 10.0, r_max: 10.0, rest }, vec![]),
        None => (GoalSampler::Ring { center: [0.0, 0.0], r_min: 1.0, r_max: 5.0, rest }, vec![]),
        Some((l, cell)) => maze_goals_and_starts(l, f64::from(*cell), &rest, opts.random_starts && !eval),
    };
    let obs = if ant {
        // All of qpos (torso xyz first, then its quaternion and the 8 joints), then qvel.
        vec![ObsPart::Qpos((0..nq).collect()), ObsPart::Qvel((0..nv).collect())]
    } else {
        vec![
            ObsPart::Qpos((0..nq).collect()),
            ObsPart::Qvel((0..nv).collect()),
            ObsPart::BodyInertia,
            ObsPart::BodyVelocity,
            ObsPart::ActuatorForce,
        ]
    };
    let spec = EnvSpec {
        name: name.to_string(),
        state_dim: observation_len(&model, &obs),
        goal_dim,
        goal_indices: (0..goal_dim).collect(),
        action_dim: nu,
        episode_length,
        success_threshold: ROBOT_SUCCESS,
    };
    let (z_min, z_max, qpos_noise, qvel_noise) = if ant { (0.2, 1.0, 0.1, 0.1) } else { (1.0, 2.0, 0.01, 0.01) };
    MjEnv::new(Task {
        spec,
        model: Arc::new(model),
        frame_skip: FRAME_SKIP,
        obs,
        goals,
        starts,
        offset_indices: vec![0, 1],
        qpos_noise,
        qvel_noise,
        termination: Some(Termination { coord: Coord::Qpos(2), min: z_min, max: z_max }),
    })
}
