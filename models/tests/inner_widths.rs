//! Width-pruned models: residual blocks whose first three layers are narrower than the stream.
//! Their config survives checkpoints, bad widths are rejected clearly, the serving path agrees with
//! the candle reference, and configs and checkpoints written before inner widths existed still load
//! and write the same bytes.

mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use common::perturbed_model;
use models::checkpoint::{checkpoint_metadata, load, read_safetensors, save, write_safetensors_atomic, CONFIG_KEY};
use models::config::{InnerWidths, TrunkKind};
use models::infer::ActorInfer;
use models::reference::CandleModel;
use models::{Model, ModelConfig, ModelError};

/// W = 32, two blocks per trunk, every trunk narrowed differently (widths 1 and W included).
fn pruned_cfg() -> ModelConfig {
    let mut cfg = ModelConfig::point_maze(8).with_width(32);
    cfg.inner_widths = Some(InnerWidths {
        actor: vec![16, 8, 24, 32, 32, 32],
        critic_sa: vec![8, 8, 8, 4, 16, 32],
        critic_g: vec![32, 1, 32, 5, 6, 7],
    });
    cfg
}

/// The config JSON exactly as checkpoints were written before inner widths existed.
const OLD_JSON: &str = "{\"env\":\"point_u_maze\",\"state_dim\":4,\"goal_dim\":2,\"goal_indices\":[0,1],\
\"action_dim\":2,\"actor_depth\":8,\"critic_depth\":8,\"width\":32,\"repr_dim\":64,\"activation\":\"silu\",\
\"training_step\":7,\"parent\":null}";

fn config_err(cfg: &ModelConfig) -> String {
    match cfg.validate() {
        Ok(()) => panic!("config should be rejected: {:?}", cfg.inner_widths),
        Err(e) => {
            assert!(matches!(e, ModelError::Config(_)), "{e:?}");
            assert!(matches!(Model::init(cfg, 0), Err(ModelError::Config(_))), "init must reject it too");
            e.to_string()
        }
    }
}

/// Two safetensors files hold the same metadata strings and the same tensors bit for bit. (Not the
/// same bytes: the header's `__metadata__` is a map whose key order is not fixed.)
fn assert_same_file(a: &Path, b: &Path) {
    let (meta_a, tensors_a) = read_safetensors(a).unwrap();
    let (meta_b, tensors_b) = read_safetensors(b).unwrap();
    assert_eq!(meta_a, meta_b);
    assert_eq!(tensors_a.len(), tensors_b.len());
    for ((na, sa, va), (nb, sb, vb)) in tensors_a.iter().zip(&tensors_b) {
        assert_eq!((na, sa), (nb, sb));
        assert!(va.iter().zip(vb).all(|(x, y)| x.to_bits() == y.to_bits()), "{na} differs");
    }
}

fn assert_contains(msg: &str, words: &[&str]) {
    for w in words {
        assert!(msg.contains(w), "expected {w:?} in: {msg}");
    }
}

#[test]
fn layout_has_the_inner_shapes_and_the_usual_names() {
    let model = Model::init(&pruned_cfg(), 0).unwrap();
    let shape = |name: &str| model.layout.spec(name).unwrap_or_else(|| panic!("no tensor {name}")).shape.clone();
    assert_eq!(shape("actor.trunk.input.weight"), [32, 6]);
    assert_eq!(shape("actor.trunk.blocks.0.0.linear.weight"), [16, 32]);
    assert_eq!(shape("actor.trunk.blocks.0.0.norm.weight"), [16]);
    assert_eq!(shape("actor.trunk.blocks.0.1.linear.weight"), [8, 16]);
    assert_eq!(shape("actor.trunk.blocks.0.2.linear.weight"), [24, 8]);
    assert_eq!(shape("actor.trunk.blocks.0.2.norm.bias"), [24]);
    assert_eq!(shape("actor.trunk.blocks.0.3.linear.weight"), [32, 24]);
    assert_eq!(shape("actor.trunk.blocks.1.2.linear.weight"), [32, 32]);
    assert_eq!(shape("critic.g.trunk.blocks.0.1.linear.weight"), [1, 32]);
    assert_eq!(shape("critic.g.trunk.blocks.1.3.linear.weight"), [32, 7]);
    assert_eq!(shape("critic.sa.out.weight"), [64, 32]);
    // Same tensor names as the uniform network, in the same order.
    let uniform = Model::init(&ModelConfig::point_maze(8).with_width(32), 0).unwrap();
    let names = |m: &Model| m.layout.specs.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&model), names(&uniform));
    // Init draws each weight from U(±1/√fan_in) of its own fan-in.
    let w = model.tensor("critic.g.trunk.blocks.1.3.linear.weight").unwrap();
    assert!(w.iter().all(|v| v.abs() <= 1.0 / 7f32.sqrt()) && w.iter().any(|v| v.abs() > 1.0 / 32f32.sqrt()));
}

#[test]
fn num_params_shrinks_by_the_removed_units() {
    let w = 32;
    let uniform = Model::init(&ModelConfig::point_maze(8).with_width(w), 0).unwrap();
    // Linear(i, o) + LayerNorm(o) holds i·o + 3·o parameters.
    let layer = |i: usize, o: usize| i * o + 3 * o;
    let block = |d: [usize; 3]| layer(w, d[0]) + layer(d[0], d[1]) + layer(d[1], d[2]) + layer(d[2], w);
    let full = block([w; 3]);
    let cfg = pruned_cfg();
    let mut expected = uniform.num_params();
    for trunk in TrunkKind::ALL {
        for d in cfg.block_inner_widths(trunk) {
            expected -= full - block(d);
        }
    }
    let pruned = Model::init(&cfg, 0).unwrap();
    assert_eq!(pruned.num_params(), expected);
    // The actor alone: block 0 goes from 4 × 1120 to 560 + 152 + 264 + 864 parameters.
    assert_eq!(uniform.layout.actor.range.len() - pruned.layout.actor.range.len(), 4 * 1120 - 1840);
}

#[test]
fn checkpoint_round_trip_is_bit_exact_and_keeps_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pruned.safetensors");
    let m = perturbed_model(&pruned_cfg(), 3);
    save(&m, &path).unwrap();
    let back = load(&path).unwrap();
    assert_eq!(back.cfg, m.cfg);
    assert_eq!(back.layout, m.layout);
    assert!(back.params.iter().zip(&m.params).all(|(a, b)| a.to_bits() == b.to_bits()));
    assert_eq!(back.params.len(), m.params.len());
    let (meta, _) = read_safetensors(&path).unwrap();
    assert!(meta[CONFIG_KEY].contains("\"inner_widths\":{\"actor\":[16,8,24,32,32,32]"), "{}", meta[CONFIG_KEY]);
    // Saving what was loaded writes the same metadata and tensors.
    let again = dir.path().join("again.safetensors");
    save(&back, &again).unwrap();
    assert_same_file(&path, &again);
}

#[test]
fn a_checkpoint_whose_weights_do_not_fit_its_inner_widths_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    // Uniform weights under a pruned config: the shape error points at the inner widths.
    let uniform = Model::init(&ModelConfig::point_maze(8).with_width(32), 0).unwrap();
    let tensors: Vec<_> =
        uniform.layout.specs.iter().map(|s| (s.name.clone(), s.shape.clone(), &uniform.params[s.range()])).collect();
    write_safetensors_atomic(&path, &tensors, &checkpoint_metadata(&pruned_cfg()).unwrap()).unwrap();
    let err = load(&path).expect_err("mismatched shapes must not load").to_string();
    assert_contains(&err, &["actor.trunk.blocks.0.0.linear.weight", "[16, 32]", "inner_widths.actor [16, 8, 24"]);
    // A config with invalid inner widths is reported as such.
    let mut bad = pruned_cfg();
    bad.inner_widths.as_mut().unwrap().critic_g[4] = 33;
    write_safetensors_atomic(&path, &tensors, &checkpoint_metadata(&bad).unwrap()).unwrap();
    let err = load(&path).expect_err("an invalid config must not load").to_string();
    assert_contains(&err, &["not a valid model configuration", "inner_widths.critic_g[4] = 33"]);
}

#[test]
fn bad_inner_widths_are_rejected_with_clear_messages() {
    let mut cfg = pruned_cfg();
    cfg.inner_widths.as_mut().unwrap().actor.pop();
    assert_contains(
        &config_err(&cfg),
        &["inner_widths.actor has 5 entries", "actor.trunk has 2 residual blocks", "needs 3 per block (6"],
    );

    let mut cfg = pruned_cfg();
    cfg.inner_widths.as_mut().unwrap().critic_sa[3] = 0;
    assert_contains(&config_err(&cfg), &["inner_widths.critic_sa[3] = 0 (block 1, layer 0)", "between 1 and", "32"]);

    let mut cfg = pruned_cfg();
    cfg.inner_widths.as_mut().unwrap().actor[2] = 64;
    assert_contains(&config_err(&cfg), &["inner_widths.actor[2] = 64 (block 0, layer 2)", "stream width 32"]);

    // An actor-only model has no critic trunks to narrow.
    let mut cfg = pruned_cfg();
    cfg.critic_depth = 0;
    assert_contains(&config_err(&cfg), &["inner_widths.critic_sa has 6 entries", "critic.sa.trunk has 0 residual"]);
    if let Some(iw) = cfg.inner_widths.as_mut() {
        iw.critic_sa.clear();
        iw.critic_g.clear();
    }
    cfg.validate().unwrap();

    // A bad entry in JSON is caught by the same check (serde alone would accept it).
    let json = OLD_JSON.replace("\"parent\":null", "\"parent\":null,\"inner_widths\":{\"actor\":[1,2]}");
    let cfg: ModelConfig = serde_json::from_str(&json).unwrap();
    assert_contains(&config_err(&cfg), &["inner_widths.actor has 2 entries"]);
}

#[test]
fn configs_and_checkpoints_without_inner_widths_are_unchanged() {
    let cfg: ModelConfig = serde_json::from_str(OLD_JSON).unwrap();
    assert_eq!(cfg.inner_widths, None);
    assert_eq!(cfg.block_inner_widths(TrunkKind::Actor), vec![[32; 3]; 2]);
    assert_eq!(serde_json::to_string(&cfg).unwrap(), OLD_JSON, "a uniform config must write its old bytes");

    // A checkpoint written by the old code (its metadata built by hand) loads and saves unchanged.
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.safetensors");
    let m = perturbed_model(&cfg, 4);
    let tensors: Vec<_> =
        m.layout.specs.iter().map(|s| (s.name.clone(), s.shape.clone(), &m.params[s.range()])).collect();
    let meta =
        HashMap::from([("deepcrl.format".to_string(), "1".to_string()), (CONFIG_KEY.to_string(), OLD_JSON.into())]);
    write_safetensors_atomic(&old, &tensors, &meta).unwrap();
    let back = load(&old).unwrap();
    assert_eq!(back.cfg, cfg);
    let new = dir.path().join("new.safetensors");
    save(&back, &new).unwrap();
    assert_same_file(&old, &new);
}

#[test]
fn setting_uniform_widths_stores_nothing() {
    let base = ModelConfig::point_maze(8).with_width(32);
    let mut cfg = base.clone();
    cfg.set_block_inner_widths(TrunkKind::CriticG, &[[32; 3]; 2]);
    assert_eq!(cfg, base);
    cfg.set_block_inner_widths(TrunkKind::CriticG, &[[32, 4, 32], [32; 3]]);
    assert_eq!(cfg.inner_widths.as_ref().map(|iw| iw.critic_g.clone()), Some(vec![32, 4, 32, 32, 32, 32]));
    assert_eq!(cfg.block_inner_widths(TrunkKind::CriticG), vec![[32, 4, 32], [32; 3]]);
    assert_eq!(cfg.block_inner_widths(TrunkKind::Actor), vec![[32; 3]; 2]);
    cfg.validate().unwrap();
    // Widening back to W removes the entry, and with it the whole field.
    cfg.set_block_inner_widths(TrunkKind::CriticG, &[[32; 3]; 2]);
    assert_eq!(cfg, base);
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max)
}

#[test]
fn actor_infer_matches_candle_with_inner_widths() {
    let cfg = pruned_cfg();
    let model = perturbed_model(&cfg, 5);
    let net = CandleModel::from_model(&model, &Device::Cpu, DType::F32).unwrap();
    let mut actor = ActorInfer::new(&model);
    // 1 and 5 take the small-batch kernel, 16 takes gemm; the batch-16 call after batch 5 reuses
    // (and grows) the scratch.
    for batch in [1usize, 5, 16, 1] {
        let data = common::OwnedBatch::random(&cfg, batch, 9 + batch as u64);
        let obs: Vec<f32> =
            (0..batch).flat_map(|i| [&data.states[i * 4..i * 4 + 4], &data.goals[i * 2..i * 2 + 2]].concat()).collect();
        let (mean, log_std) = net.actor(&Tensor::from_slice(&obs, (batch, 6), &Device::Cpu).unwrap()).unwrap();
        let mean = mean.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let log_std = log_std.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let action: Vec<f32> = mean.iter().map(|m| m.tanh()).collect();
        let got = actor.act_batch(&data.states, &data.goals, batch).unwrap().to_vec();
        assert!(max_diff(&got, &action) <= 1e-5, "batch {batch}: action differs by {}", max_diff(&got, &action));
        let (m, l) = actor.distribution_obs(&obs, batch).unwrap();
        assert!(max_diff(m, &mean) <= 1e-5, "batch {batch}: mean");
        assert!(max_diff(l, &log_std) <= 1e-5, "batch {batch}: log_std");
    }
    // A pruned actor is a different shape: refreshing from the uniform model is refused.
    let uniform = Model::init(&ModelConfig::point_maze(8).with_width(32), 0).unwrap();
    assert!(actor.refresh(&uniform).is_err());
}
