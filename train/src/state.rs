//! `train_state.safetensors`: everything `--resume` needs to continue a run: the parameters, Adam's
//! moments and step, the run's counters and the sampler's RNG position.
//!
//! The parameters are stored here as well as in `teacher.safetensors`, so a resume never mixes a
//! teacher and optimiser state from different steps (a kill can land between the two writes). Counts
//! and the RNG position are exact integers, so they live in the header metadata as decimal strings
//! (the tensors are f32).

use std::collections::HashMap;
use std::path::Path;

use crate::error::{bail, Context, Result, TrainError};
use models::checkpoint::{checkpoint_metadata, read_safetensors, write_safetensors_atomic, CONFIG_KEY};
use models::{Adam, Model, ModelConfig, ModelLayout};
use rand_chacha::ChaCha8Rng;

/// Where the loop stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub env_steps: u64,
    pub sgd_steps: u64,
    pub next_eval: u64,
    /// Wall time of the run so far, over every process that worked on it.
    pub wall_ms: u64,
}

/// What a resume restores.
pub struct Restored {
    pub model: Model,
    pub adam_m: Vec<f32>,
    pub adam_v: Vec<f32>,
    pub adam_t: u64,
    pub counters: Counters,
    pub rng_word_pos: u128,
}

const KEYS: [&str; 6] =
    ["train.adam_t", "train.env_steps", "train.sgd_steps", "train.next_eval", "train.rng_word_pos", "train.wall_ms"];

/// Writes the state atomically.
pub fn save(path: &Path, model: &Model, adam: &Adam, counters: Counters, rng: &ChaCha8Rng) -> Result<()> {
    let mut meta = checkpoint_metadata(&model.cfg)?;
    let values = [
        adam.t.to_string(),
        counters.env_steps.to_string(),
        counters.sgd_steps.to_string(),
        counters.next_eval.to_string(),
        rng.get_word_pos().to_string(),
        counters.wall_ms.to_string(),
    ];
    for (k, v) in KEYS.iter().zip(values) {
        meta.insert(k.to_string(), v);
    }
    let n = model.params.len();
    let tensors = [
        ("params".to_string(), vec![n], model.params.as_slice()),
        ("adam.m".to_string(), vec![n], adam.m.as_slice()),
        ("adam.v".to_string(), vec![n], adam.v.as_slice()),
    ];
    write_safetensors_atomic(path, &tensors, &meta)?;
    Ok(())
}

/// Reads a state written by [`save`], checking that every piece is there and consistent.
pub fn load(path: &Path) -> Result<Restored> {
    let (meta, tensors) = read_safetensors(path)?;
    let cfg_json =
        meta.get(CONFIG_KEY).with_context(|| format!("{}: no model config in the header", path.display()))?;
    let cfg: ModelConfig =
        serde_json::from_str(cfg_json).with_context(|| format!("{}: bad model config", path.display()))?;
    let layout = ModelLayout::new(&cfg)?;
    let mut by_name: HashMap<String, Vec<f32>> = tensors.into_iter().map(|(name, _, data)| (name, data)).collect();
    let mut take = |name: &str| -> Result<Vec<f32>> {
        let v = by_name.remove(name).with_context(|| format!("{}: tensor {name} is missing", path.display()))?;
        if v.len() != layout.len {
            bail!("{}: tensor {name} has {} values, the model has {} parameters", path.display(), v.len(), layout.len);
        }
        Ok(v)
    };
    let (params, adam_m, adam_v) = (take("params")?, take("adam.m")?, take("adam.v")?);
    let num = |key: &str| -> Result<u128> {
        let s = meta.get(key).with_context(|| format!("{}: {key} is missing from the header", path.display()))?;
        s.parse().map_err(|_| TrainError::Invalid(format!("{}: {key} = {s:?} is not a number", path.display())))
    };
    let counters = Counters {
        env_steps: num(KEYS[1])? as u64,
        sgd_steps: num(KEYS[2])? as u64,
        next_eval: num(KEYS[3])? as u64,
        wall_ms: num(KEYS[5])? as u64,
    };
    Ok(Restored {
        model: Model { cfg, layout, params },
        adam_m,
        adam_v,
        adam_t: num(KEYS[0])? as u64,
        counters,
        rng_word_pos: num(KEYS[4])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};

    #[test]
    fn state_round_trips_exactly() {
        let model = Model::init(&ModelConfig::point_maze(4).with_width(16), 3).unwrap();
        let mut adam = Adam::new(models::AdamConfig::default(), model.params.len());
        adam.t = 17;
        adam.m.iter_mut().enumerate().for_each(|(i, m)| *m = i as f32 * 1e-3);
        adam.v.iter_mut().enumerate().for_each(|(i, v)| *v = (i as f32).sqrt());
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        rng.next_u64();
        let counters = Counters { env_steps: 12_345, sgd_steps: 678, next_eval: 20_000, wall_ms: 98_765 };
        let dir = std::env::temp_dir().join(format!("deepcrl-state-{}", std::process::id()));
        let path = dir.join("train_state.safetensors");
        save(&path, &model, &adam, counters, &rng).unwrap();
        let r = load(&path).unwrap();
        assert_eq!(r.model.params, model.params);
        assert_eq!(r.model.cfg, model.cfg);
        assert_eq!((r.adam_m, r.adam_v, r.adam_t), (adam.m, adam.v, 17));
        assert_eq!(r.counters, counters);
        assert_eq!(r.rng_word_pos, rng.get_word_pos());
        std::fs::write(&path, b"not a state").unwrap();
        assert!(load(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
