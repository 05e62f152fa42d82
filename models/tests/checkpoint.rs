//! Checkpoint files: bit-exact round trips, atomic writes, and a clear error for every kind of bad file.

use std::collections::HashMap;
use std::path::Path;

use models::checkpoint::{
    self, checkpoint_metadata, load, read_safetensors, save, write_safetensors_atomic, CONFIG_KEY, FORMAT_KEY,
};
use models::{Model, ModelConfig, ModelError};
use safetensors::Dtype;

fn small_cfg() -> ModelConfig {
    ModelConfig::point_maze(8).with_width(32)
}

/// A model whose parameters are varied bit patterns (negative zero, subnormals, extremes), not just
/// the zeros and ones of a fresh init.
fn model(cfg: &ModelConfig, seed: u64) -> Model {
    let mut m = Model::init(cfg, seed).unwrap();
    let specials = [-0.0f32, f32::MIN_POSITIVE / 3.0, f32::MAX, f32::MIN, 1e-30, -1.5];
    for (i, p) in m.params.iter_mut().enumerate() {
        if i % 7 == 0 {
            *p = specials[(i / 7) % specials.len()];
        }
    }
    m
}

fn tensors_of(m: &Model) -> Vec<(String, Vec<usize>, &[f32])> {
    m.layout.specs.iter().map(|s| (s.name.clone(), s.shape.clone(), &m.params[s.range()])).collect()
}

fn assert_same(a: &Model, b: &Model) {
    assert_eq!(a.cfg, b.cfg);
    assert_eq!(a.layout, b.layout);
    assert_eq!(a.params.len(), b.params.len());
    for (i, (x, y)) in a.params.iter().zip(&b.params).enumerate() {
        assert_eq!(x.to_bits(), y.to_bits(), "parameter {i}: {x} vs {y}");
    }
}

/// The message of a load that must fail with a checkpoint error naming the file.
fn load_err(path: &Path) -> String {
    match load(path) {
        Ok(_) => panic!("loading {} should fail", path.display()),
        Err(e) => {
            assert!(matches!(e, ModelError::Checkpoint { .. }), "{e:?}");
            let msg = e.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            msg
        }
    }
}

fn assert_contains(msg: &str, words: &[&str]) {
    for w in words {
        assert!(msg.contains(w), "expected {w:?} in: {msg}");
    }
}

/// Writes `m`'s tensors with the given metadata, after `edit` has changed the tensor list.
fn write_edited<'a>(
    path: &Path,
    m: &'a Model,
    metadata: &HashMap<String, String>,
    edit: impl FnOnce(&mut Vec<(String, Vec<usize>, &'a [f32])>),
) {
    let mut tensors = tensors_of(m);
    edit(&mut tensors);
    write_safetensors_atomic(path, &tensors, metadata).unwrap();
}

#[test]
fn round_trip_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("teacher.safetensors");
    let m = model(&small_cfg(), 3);
    save(&m, &path).unwrap();
    assert_same(&m, &load(&path).unwrap());
}

/// The norm before the actor's heads is part of the network: it travels in the config, and a
/// config without the key (every checkpoint before it) reads as without the norm.
#[test]
fn round_trip_keeps_the_head_norm_and_old_configs_read_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("teacher.safetensors");
    let m = model(&ModelConfig { head_norm: true, ..small_cfg() }, 3);
    save(&m, &path).unwrap();
    let back = load(&path).unwrap();
    assert!(back.cfg.head_norm && back.layout.actor.head_norm);
    assert_same(&m, &back);
    let json = serde_json::to_string(&small_cfg()).unwrap();
    assert!(!json.contains("head_norm"), "{json}");
    assert!(!serde_json::from_str::<ModelConfig>(&json).unwrap().head_norm);
}

#[test]
fn round_trip_keeps_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("student.safetensors");
    let mut cfg = small_cfg();
    cfg.parent = Some("runs/teacher/teacher.safetensors".into());
    cfg.training_step = 123_456_789_012;
    let m = model(&cfg, 4);
    save(&m, &path).unwrap();
    let back = load(&path).unwrap();
    assert_eq!(back.cfg.parent.as_deref(), Some("runs/teacher/teacher.safetensors"));
    assert_eq!(back.cfg.training_step, 123_456_789_012);
    assert_same(&m, &back);
}

#[test]
fn round_trip_actor_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("actor.safetensors");
    let mut cfg = ModelConfig::point_maze(4).with_width(16);
    cfg.critic_depth = 0;
    let m = model(&cfg, 5);
    assert!(m.layout.critic.is_none());
    save(&m, &path).unwrap();
    let back = load(&path).unwrap();
    assert!(back.layout.specs.iter().all(|s| s.name.starts_with("actor.")));
    assert_same(&m, &back);
}

#[test]
fn metadata_holds_format_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let m = model(&small_cfg(), 6);
    save(&m, &path).unwrap();
    let (meta, tensors) = read_safetensors(&path).unwrap();
    assert_eq!(meta[FORMAT_KEY], checkpoint::FORMAT_VERSION.to_string());
    let cfg: ModelConfig = serde_json::from_str(&meta[CONFIG_KEY]).unwrap();
    assert_eq!(cfg, m.cfg);
    assert_eq!(tensors.len(), m.layout.specs.len());
    // The file is plain safetensors: the crate's own reader accepts it.
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.len(), m.layout.specs.len());
    assert_eq!(st.tensor("log_alpha").unwrap().dtype(), Dtype::F32);
    for (name, shape, values) in &tensors {
        let spec = m.layout.spec(name).unwrap();
        assert_eq!(shape, &spec.shape);
        assert!(values.iter().zip(&m.params[spec.range()]).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

#[test]
fn atomic_write_leaves_no_temp_files_and_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    // The parent directory does not exist yet.
    let path = dir.path().join("runs").join("a").join("teacher.safetensors");
    let first = model(&small_cfg(), 1);
    save(&first, &path).unwrap();
    let second = model(&ModelConfig::point_maze(4).with_width(8), 2);
    save(&second, &path).unwrap();
    assert_same(&second, &load(&path).unwrap());
    let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["teacher.safetensors".to_string()]);
}

#[test]
fn writer_rejects_bad_input_without_touching_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.safetensors");
    let data = [1.0f32, 2.0, 3.0];
    let meta = HashMap::new();
    let wrong_len = [("a".to_string(), vec![2, 2], &data[..])];
    assert!(write_safetensors_atomic(&path, &wrong_len, &meta).is_err());
    let dup = [("a".to_string(), vec![3], &data[..]), ("a".to_string(), vec![3], &data[..])];
    assert!(write_safetensors_atomic(&path, &dup, &meta).is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let msg = load_err(&dir.path().join("nope.safetensors"));
    assert_contains(&msg, &["nope.safetensors", "does not exist"]);
}

#[test]
fn text_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.safetensors");
    std::fs::write(&path, "these are not the weights you are looking for\n").unwrap();
    assert_contains(&load_err(&path), &["not a safetensors"]);
}

#[test]
fn four_byte_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.safetensors");
    std::fs::write(&path, [1u8, 2, 3, 4]).unwrap();
    assert_contains(&load_err(&path), &["not a safetensors", "4 bytes"]);
}

#[test]
fn truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.safetensors");
    save(&model(&small_cfg(), 7), &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let msg = load_err(&path);
    assert_contains(&msg, &["truncated", "bytes missing"]);
    // A cut inside the header is reported as truncation too.
    std::fs::write(&path, &bytes[..40]).unwrap();
    assert_contains(&load_err(&path), &["truncated"]);
}

#[test]
fn missing_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let m = model(&small_cfg(), 8);
    write_edited(&path, &m, &checkpoint_metadata(&m.cfg).unwrap(), |t| t.retain(|(n, _, _)| n != "actor.mean.bias"));
    assert_contains(&load_err(&path), &["missing 1 tensor", "actor.mean.bias"]);
}

#[test]
fn many_missing_tensors_are_summarised() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let m = model(&small_cfg(), 8);
    write_edited(&path, &m, &checkpoint_metadata(&m.cfg).unwrap(), |t| t.retain(|(n, _, _)| !n.starts_with("critic.")));
    assert_contains(&load_err(&path), &["critic.sa.trunk.input.weight", "more"]);
}

#[test]
fn extra_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let m = model(&small_cfg(), 9);
    let bonus = [0.5f32; 3];
    write_edited(&path, &m, &checkpoint_metadata(&m.cfg).unwrap(), |t| {
        t.push(("actor.bonus".to_string(), vec![3], &bonus[..]))
    });
    assert_contains(&load_err(&path), &["unexpected 1 tensor", "actor.bonus"]);
}

#[test]
fn wrong_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let m = model(&small_cfg(), 10);
    write_edited(&path, &m, &checkpoint_metadata(&m.cfg).unwrap(), |t| {
        let w = t.iter_mut().find(|(n, _, _)| n == "actor.mean.weight").unwrap();
        w.1 = vec![32, 2];
    });
    assert_contains(&load_err(&path), &["actor.mean.weight", "[32, 2]", "[2, 32]"]);
}

#[test]
fn newer_format_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let m = model(&small_cfg(), 11);
    let mut meta = checkpoint_metadata(&m.cfg).unwrap();
    meta.insert(FORMAT_KEY.into(), "2".into());
    write_edited(&path, &m, &meta, |_| {});
    assert_contains(&load_err(&path), &["format 2", "newer", "upgrade"]);
}

#[test]
fn unparseable_format_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let m = model(&small_cfg(), 11);
    let mut meta = checkpoint_metadata(&m.cfg).unwrap();
    meta.insert(FORMAT_KEY.into(), "one".into());
    write_edited(&path, &m, &meta, |_| {});
    assert_contains(&load_err(&path), &["\"one\"", "not a valid format version"]);
}

#[test]
fn missing_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let m = model(&small_cfg(), 12);
    write_edited(&path, &m, &HashMap::new(), |_| {});
    assert_contains(&load_err(&path), &["not a deepcrl checkpoint", "__metadata__"]);
    let mut meta = checkpoint_metadata(&m.cfg).unwrap();
    meta.remove(FORMAT_KEY);
    write_edited(&path, &m, &meta, |_| {});
    assert_contains(&load_err(&path), &["not a deepcrl checkpoint", FORMAT_KEY]);
}

#[test]
fn invalid_config_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let m = model(&small_cfg(), 13);
    let mut meta = checkpoint_metadata(&m.cfg).unwrap();
    meta.insert(CONFIG_KEY.into(), "{\"env\": \"point_u_maze\", \"width\": ".into());
    write_edited(&path, &m, &meta, |_| {});
    assert_contains(&load_err(&path), &[CONFIG_KEY, "not a valid model configuration", "EOF"]);
}

#[test]
fn config_that_fails_validation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let m = model(&small_cfg(), 14);
    let mut cfg = m.cfg.clone();
    cfg.actor_depth = 6;
    let meta = checkpoint_metadata(&cfg).unwrap();
    write_edited(&path, &m, &meta, |_| {});
    assert_contains(&load_err(&path), &["actor_depth = 6", "multiple of 4"]);
}

#[test]
fn f64_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let m = model(&small_cfg(), 15);
    let bytes: Vec<Vec<u8>> = m
        .layout
        .specs
        .iter()
        .map(|s| {
            let src = &m.params[s.range()];
            if s.name == "log_alpha" {
                src.iter().flat_map(|&x| f64::from(x).to_le_bytes()).collect()
            } else {
                src.iter().flat_map(|x| x.to_le_bytes()).collect()
            }
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = m
        .layout
        .specs
        .iter()
        .zip(&bytes)
        .map(|(s, b)| {
            let dtype = if s.name == "log_alpha" { Dtype::F64 } else { Dtype::F32 };
            let view = safetensors::tensor::TensorView::new(dtype, s.shape.clone(), b).unwrap();
            (s.name.clone(), view)
        })
        .collect();
    assert_eq!(views.iter().filter(|(_, v)| v.dtype() == Dtype::F64).count(), 1);
    let meta = checkpoint_metadata(&m.cfg).unwrap();
    safetensors::serialize_to_file(views, Some(meta), &path).unwrap();
    assert_contains(&load_err(&path), &["log_alpha", "F64", "F32"]);
}

#[test]
fn nan_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let mut m = model(&small_cfg(), 16);
    let spec = m.layout.spec("critic.g.out.weight").unwrap().clone();
    m.params[spec.offset] = f32::NAN;
    m.params[spec.offset + 1] = f32::NAN;
    m.params[spec.offset + 2] = f32::NEG_INFINITY;
    save(&m, &path).unwrap();
    assert_contains(&load_err(&path), &["critic.g.out.weight", "2 NaN", "1 infinite"]);
}
