//! `--save-replay`: the collection side of a run (the replay buffer, every environment's state and
//! RNG, the collector's chained goals) saved with each checkpoint, so a resumed run continues exactly
//! as if it had never stopped: same samples, same episodes, bit-identical parameters.
//!
//! The file is `collection.safetensors`, tagged with the environment steps it belongs to. A checkpoint
//! writes `collection.next.safetensors` first, then `train_state.safetensors` (the commit point), then
//! renames the first over `collection.safetensors`; a kill anywhere leaves one of the two files
//! matching the train state, and [`restore`] takes whichever does.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{bail, Context, Result, TrainError};
use envs::GoalEnv;
use rundir::RunDir;
use safetensors::{Dtype, SafeTensors};

use crate::collect::Collector;
use crate::replay::{RawReplay, Replay};

/// `__metadata__` key: the environment steps the snapshot was taken at.
const STEP_KEY: &str = "deepcrl.collection.env_steps";
/// `__metadata__` key: the environment's name (a snapshot only fits its own environment).
const ENV_KEY: &str = "deepcrl.collection.env";
/// `__metadata__` key: the replay's collected time steps.
const TOTAL_KEY: &str = "deepcrl.collection.total";

/// Writes the collection state at `env_steps` to `path` (atomically).
pub fn save(path: &Path, env_steps: u64, replay: &Replay, env: &dyn GoalEnv, collector: &Collector) -> Result<()> {
    let raw = replay.raw();
    let words = env.snapshot()?;
    let gd = env.spec().goal_dim;
    let chained = collector.chained();
    let set: Vec<u8> = chained.iter().map(|c| c.is_some() as u8).collect();
    let goals: Vec<f32> =
        chained.iter().flat_map(|c| c.clone().unwrap_or_else(|| vec![0.0; gd]).into_iter().take(gd)).collect();
    let tensors: Vec<(&str, Dtype, Vec<u8>)> = vec![
        ("replay.states", Dtype::F32, raw.states.iter().flat_map(|x| x.to_le_bytes()).collect()),
        ("replay.actions", Dtype::F32, raw.actions.iter().flat_map(|x| x.to_le_bytes()).collect()),
        ("replay.traj", Dtype::U64, raw.traj.iter().flat_map(|x| x.to_le_bytes()).collect()),
        ("replay.step", Dtype::U32, raw.step.iter().flat_map(|x| x.to_le_bytes()).collect()),
        ("envs", Dtype::U64, words.iter().flat_map(|x| x.to_le_bytes()).collect()),
        ("collector.chained_set", Dtype::U8, set),
        ("collector.chained_goal", Dtype::F32, goals.iter().flat_map(|x| x.to_le_bytes()).collect()),
    ];
    let views = tensors
        .iter()
        .map(|(name, dtype, data)| {
            let n = data.len() * 8 / dtype.bitsize();
            safetensors::tensor::TensorView::new(*dtype, vec![n], data).map(|v| (name.to_string(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .context("laying out the collection snapshot")?;
    let meta = HashMap::from([
        (STEP_KEY.to_string(), env_steps.to_string()),
        (ENV_KEY.to_string(), env.spec().name.clone()),
        (TOTAL_KEY.to_string(), raw.total.to_string()),
    ]);
    let file = safetensors::tensor::serialize(views, Some(meta)).context("serialising the collection snapshot")?;
    models::atomic::write_bytes_atomic(path, &file)?;
    Ok(())
}

/// The environment steps a snapshot file belongs to, read from its header only.
fn step_of(path: &Path) -> Option<u64> {
    models::checkpoint::read_metadata(path)?.get(STEP_KEY)?.parse().ok()
}

/// The snapshot in `run` taken at `env_steps`, if either file holds it.
pub fn matching(run: &RunDir, env_steps: u64) -> Option<std::path::PathBuf> {
    [run.collection(), run.collection_next()].into_iter().find(|p| step_of(p) == Some(env_steps))
}

/// Restores the snapshot at `path` into freshly built `replay`, `env` and `collector`.
pub fn restore(path: &Path, replay: &mut Replay, env: &mut dyn GoalEnv, collector: &mut Collector) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let what = || format!("{}: not a collection snapshot (delete it to resume without one)", path.display());
    let file = SafeTensors::deserialize(&bytes).with_context(what)?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).with_context(what)?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let saved_env = meta.get(ENV_KEY).map(String::as_str).unwrap_or("?");
    if saved_env != env.spec().name {
        bail!("{}: saved for {saved_env}, not {}", path.display(), env.spec().name);
    }
    let total: usize = meta.get(TOTAL_KEY).and_then(|t| t.parse().ok()).with_context(what)?;
    let data = |name: &str, dtype: Dtype| -> Result<Vec<u8>> {
        let t = file.tensor(name).with_context(|| format!("{}: no tensor {name}", path.display()))?;
        if t.dtype() != dtype {
            bail!("{}: {name} is {:?}, not {dtype:?}", path.display(), t.dtype());
        }
        Ok(t.data().to_vec())
    };
    let f32s = |b: Vec<u8>| b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect::<Vec<_>>();
    let u64s =
        |b: Vec<u8>| b.chunks_exact(8).map(|c| u64::from_le_bytes(std::array::from_fn(|i| c[i]))).collect::<Vec<_>>();
    let states = f32s(data("replay.states", Dtype::F32)?);
    let actions = f32s(data("replay.actions", Dtype::F32)?);
    let traj = u64s(data("replay.traj", Dtype::U64)?);
    let step: Vec<u32> = data("replay.step", Dtype::U32)?
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    replay
        .restore_raw(RawReplay { states: &states, actions: &actions, traj: &traj, step: &step, total })
        .map_err(|e| TrainError::Invalid(format!("{}: {e}", path.display())))?;
    env.restore(&u64s(data("envs", Dtype::U64)?)).with_context(|| path.display().to_string())?;
    let set = data("collector.chained_set", Dtype::U8)?;
    let goals = f32s(data("collector.chained_goal", Dtype::F32)?);
    let gd = env.spec().goal_dim;
    if set.len() != env.num_envs() || goals.len() != set.len() * gd {
        bail!("{}: the chained goals are for {} environments, not {}", path.display(), set.len(), env.num_envs());
    }
    let chained = set.iter().zip(goals.chunks_exact(gd)).map(|(&s, g)| (s == 1).then(|| g.to_vec())).collect();
    collector.set_chained(chained);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_restores_into_its_own_shape_and_refuses_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("collection.safetensors");
        let mut env = envs::make("point_u_maze", 3, 1).unwrap();
        let mut replay = Replay::new(3, 5, 4, 2, vec![0, 1], 50);
        replay.push(&[0.5; 12], &[0.25; 6], &[0, 1, 2], &[0, 0, 0]);
        let mut collector = Collector::new(true);
        collector.set_chained(vec![None, Some(vec![4.0, 8.0]), None]);
        env.step(&[0.3; 6]).unwrap();
        save(&path, 77, &replay, env.as_ref(), &collector).unwrap();
        assert_eq!(step_of(&path), Some(77));

        let (mut env2, mut replay2, mut collector2) =
            (envs::make("point_u_maze", 3, 9).unwrap(), Replay::new(3, 5, 4, 2, vec![0, 1], 50), Collector::new(true));
        restore(&path, &mut replay2, env2.as_mut(), &mut collector2).unwrap();
        assert_eq!(env2.observations(), env.observations());
        assert_eq!(collector2.chained(), collector.chained());
        assert_eq!((replay2.raw().total, replay2.raw().states), (replay.raw().total, replay.raw().states));

        let mut bigger = Replay::new(4, 5, 4, 2, vec![0, 1], 50);
        let e = restore(&path, &mut bigger, env2.as_mut(), &mut collector2).unwrap_err().to_string();
        assert!(e.contains("num_envs"), "{e}");
        let e = restore(&path, &mut replay2, envs::make("reacher", 3, 0).unwrap().as_mut(), &mut collector2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("saved for point_u_maze"), "{e}");
        std::fs::write(&path, b"junk").unwrap();
        let e = format!("{:#}", restore(&path, &mut replay2, env2.as_mut(), &mut collector2).unwrap_err());
        assert!(e.contains("not a collection snapshot"), "{e}");
    }
}
