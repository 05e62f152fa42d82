//! The exported ONNX actor, run by tract, against the candle reference actor.

use std::path::Path;

use candle_core::{DType, Device, Tensor as CTensor};
use models::config::TrunkKind;
use models::onnx::{actor_to_onnx, export_actor, CONFIG_KEY, IR_VERSION, OPSET_VERSION};
use models::reference::CandleModel;
use models::{Model, ModelConfig};
use onnx_protobuf::{Message, ModelProto};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tract_onnx::prelude::{
    tvec, DatumExt, Framework, InferenceModel, InferenceModelExt, IntoRunnable, IntoTValue, Tensor as TTensor,
};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const BATCH: usize = 7;
const TOL: f32 = 1e-5;

/// The three actor outputs, each row-major `[batch, action_dim]`.
#[derive(Debug)]
struct Outputs {
    action: Vec<f32>,
    mean: Vec<f32>,
    log_std: Vec<f32>,
}

fn uniform(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-3.0f32..3.0)).collect()
}

fn inputs(cfg: &ModelConfig, batch: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let state = uniform(&mut rng, batch * cfg.state_dim);
    let goal = uniform(&mut rng, batch * cfg.goal_dim);
    (state, goal)
}

fn candle_actor(model: &Model, state: &[f32], goal: &[f32], batch: usize) -> TestResult<Outputs> {
    let dev = Device::Cpu;
    let net = CandleModel::from_model(model, &dev, DType::F32)?;
    let s = CTensor::from_slice(state, (batch, model.cfg.state_dim), &dev)?;
    let g = CTensor::from_slice(goal, (batch, model.cfg.goal_dim), &dev)?;
    let (mean, log_std) = net.actor(&CTensor::cat(&[&s, &g], 1)?)?;
    let flat = |t: &CTensor| t.flatten_all().and_then(|t| t.to_vec1::<f32>());
    Ok(Outputs { action: flat(&mean.tanh()?)?, mean: flat(&mean)?, log_std: flat(&log_std)? })
}

/// Optimises `model` (with concrete input shapes when `batch` is given) and runs it.
fn tract_run(
    mut model: InferenceModel,
    cfg: &ModelConfig,
    batch: Option<usize>,
    state: &[f32],
    goal: &[f32],
) -> TestResult<Outputs> {
    if let Some(b) = batch {
        model = model
            .with_input_fact(0, f32::fact([b, cfg.state_dim]).into())?
            .with_input_fact(1, f32::fact([b, cfg.goal_dim]).into())?;
    }
    let plan = model.into_optimized()?.into_runnable()?;
    let rows = state.len() / cfg.state_dim;
    let s = TTensor::from_shape(&[rows, cfg.state_dim], state)?;
    let g = TTensor::from_shape(&[rows, cfg.goal_dim], goal)?;
    let out = plan.run(tvec!(s.into_tvalue(), g.into_tvalue()))?;
    assert_eq!(out.len(), 3, "action, mean, log_std");
    let mut vecs = Vec::new();
    for t in &out {
        let view = t.to_plain_array_view::<f32>()?;
        assert_eq!(view.shape(), &[rows, cfg.action_dim]);
        vecs.push(view.iter().copied().collect::<Vec<f32>>());
    }
    let log_std = vecs.pop().unwrap_or_default();
    let mean = vecs.pop().unwrap_or_default();
    let action = vecs.pop().unwrap_or_default();
    Ok(Outputs { action, mean, log_std })
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Asserts every output agrees within `TOL` and returns the three max abs errors.
fn compare(label: &str, got: &Outputs, want: &Outputs) -> [f32; 3] {
    let errs = [
        max_abs_diff(&got.action, &want.action),
        max_abs_diff(&got.mean, &want.mean),
        max_abs_diff(&got.log_std, &want.log_std),
    ];
    eprintln!("{label}: max abs error action {:.3e}, mean {:.3e}, log_std {:.3e}", errs[0], errs[1], errs[2]);
    for (name, e) in ["action", "mean", "log_std"].iter().zip(errs) {
        assert!(e <= TOL, "{label}: {name} differs by {e:e} (> {TOL:e})");
    }
    errs
}

fn check_depth(depth: usize) -> TestResult {
    let cfg = ModelConfig::point_maze(depth);
    assert_eq!(cfg.width, 256);
    let model = Model::init(&cfg, 11 + depth as u64)?;
    let bytes = actor_to_onnx(&model)?;
    let (state, goal) = inputs(&cfg, BATCH, depth as u64);
    let want = candle_actor(&model, &state, &goal, BATCH)?;
    let onnx = tract_onnx::onnx().model_for_read(&mut bytes.as_slice())?;
    let got = tract_run(onnx, &cfg, Some(BATCH), &state, &goal)?;
    compare(&format!("depth {depth}"), &got, &want);
    // log_std must stay inside its squashed range.
    assert!(got.log_std.iter().all(|&v| (-5.0..=2.0).contains(&v)));
    Ok(())
}

#[test]
fn tract_matches_candle_depth_4() -> TestResult {
    check_depth(4)
}

#[test]
fn tract_matches_candle_depth_16() -> TestResult {
    check_depth(16)
}

/// With the norm before the heads (issue 26), a LayerNormalization of scale 1 and bias 0.
#[test]
fn tract_matches_candle_with_a_norm_before_the_heads() -> TestResult {
    let cfg = ModelConfig { head_norm: true, ..ModelConfig::point_maze(8).with_width(32) };
    let model = Model::init(&cfg, 5)?;
    let bytes = actor_to_onnx(&model)?;
    for batch in [1, BATCH] {
        let (state, goal) = inputs(&cfg, batch, 500 + batch as u64);
        let want = candle_actor(&model, &state, &goal, batch)?;
        let onnx = tract_onnx::onnx().model_for_read(&mut bytes.as_slice())?;
        let got = tract_run(onnx, &cfg, Some(batch), &state, &goal)?;
        compare(&format!("head norm, batch {batch}"), &got, &want);
    }
    // And the norm is there: without it the same weights give other actions.
    let plain = Model::init(&ModelConfig { head_norm: false, ..cfg.clone() }, 5)?;
    assert_eq!(plain.params, model.params, "the norm has no parameters");
    let (state, goal) = inputs(&cfg, BATCH, 600);
    let (with, without) = (candle_actor(&model, &state, &goal, BATCH)?, candle_actor(&plain, &state, &goal, BATCH)?);
    assert!(max_abs_diff(&with.mean, &without.mean) > 1e-3, "the norm changed nothing");
    Ok(())
}

/// The batch dimension is symbolic: one optimised model serves any batch size.
#[test]
fn symbolic_batch_runs_any_batch_size() -> TestResult {
    let cfg = ModelConfig::point_maze(4).with_width(32);
    let model = Model::init(&cfg, 3)?;
    let bytes = actor_to_onnx(&model)?;
    for batch in [1, 5] {
        let (state, goal) = inputs(&cfg, batch, 100 + batch as u64);
        let want = candle_actor(&model, &state, &goal, batch)?;
        let onnx = tract_onnx::onnx().model_for_read(&mut bytes.as_slice())?;
        let got = tract_run(onnx, &cfg, None, &state, &goal)?;
        compare(&format!("symbolic batch {batch}"), &got, &want);
    }
    Ok(())
}

/// A width-pruned actor (blocks narrower inside than the stream) exports to the same graph, each
/// Gemm and LayerNormalization taking its shape from its initializers, and matches candle.
#[test]
fn tract_matches_candle_with_inner_widths() -> TestResult {
    let mut cfg = ModelConfig::point_maze(8).with_width(32);
    cfg.set_block_inner_widths(TrunkKind::Actor, &[[16, 8, 24], [32, 5, 32]]);
    let mut model = Model::init(&cfg, 21)?;
    // Move norm scales and biases off their init so a mis-wired norm cannot pass by accident.
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    for spec in model.layout.specs.iter().filter(|s| s.shape.len() == 1) {
        model.params[spec.range()].iter_mut().for_each(|x| *x += rng.random_range(-0.3f32..0.3));
    }
    let bytes = actor_to_onnx(&model)?;
    let proto = ModelProto::parse_from_bytes(&bytes)?;
    let graph = proto.graph.as_ref().ok_or("no graph")?;
    let dims = |name: &str| graph.initializer.iter().find(|t| t.name == name).map(|t| t.dims.clone());
    assert_eq!(dims("actor.trunk.blocks.0.1.linear.weight"), Some(vec![8, 16]));
    assert_eq!(dims("actor.trunk.blocks.1.1.norm.weight"), Some(vec![5]));
    for batch in [1, BATCH] {
        let (state, goal) = inputs(&cfg, batch, 300 + batch as u64);
        let want = candle_actor(&model, &state, &goal, batch)?;
        for fixed in [Some(batch), None] {
            let onnx = tract_onnx::onnx().model_for_read(&mut bytes.as_slice())?;
            let got = tract_run(onnx, &cfg, fixed, &state, &goal)?;
            compare(&format!("inner widths, batch {batch}, fixed {}", fixed.is_some()), &got, &want);
        }
    }
    Ok(())
}

#[test]
fn export_actor_writes_a_loadable_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("actor.onnx");
    let cfg = ModelConfig::point_maze(4).with_width(64);
    let model = Model::init(&cfg, 5)?;
    export_actor(&model, &path)?;
    assert!(path.is_file());
    assert_eq!(std::fs::read(&path)?, actor_to_onnx(&model)?);
    // Only the final file is left behind: the temporary file was renamed, not copied.
    let entries: Vec<_> = std::fs::read_dir(dir.path())?.collect::<Result<_, _>>()?;
    assert_eq!(entries.len(), 1, "stray files: {entries:?}");

    // Exporting again replaces the file in place.
    let model2 = Model::init(&cfg, 6)?;
    export_actor(&model2, &path)?;
    assert_eq!(std::fs::read(&path)?, actor_to_onnx(&model2)?);

    let (state, goal) = inputs(&cfg, BATCH, 9);
    let onnx = tract_onnx::onnx().model_for_path(&path)?;
    let got = tract_run(onnx, &cfg, Some(BATCH), &state, &goal)?;
    compare("exported file", &got, &candle_actor(&model2, &state, &goal, BATCH)?);
    Ok(())
}

#[test]
fn export_actor_creates_missing_directories_and_reports_unwritable_paths() -> TestResult {
    let dir = tempfile::tempdir()?;
    let model = Model::init(&ModelConfig::point_maze(4).with_width(16), 0)?;
    // Like checkpoints, an export creates the directories it needs (runs/<name>/students/<id>/...).
    let nested = dir.path().join("no/such/dir/actor.onnx");
    export_actor(&model, &nested)?;
    assert_eq!(std::fs::read(&nested)?, actor_to_onnx(&model)?);
    // A parent that is a file cannot become a directory: a clear error naming the path.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x")?;
    let path = blocker.join("actor.onnx");
    let err = export_actor(&model, &path).err().ok_or("export under a regular file succeeded")?;
    assert!(err.to_string().contains(&blocker.display().to_string()), "{err}");
    assert!(!Path::new(&path).exists());
    Ok(())
}

#[test]
fn metadata_holds_the_config() -> TestResult {
    let mut cfg = ModelConfig::point_maze(8).with_width(32);
    cfg.training_step = 1234;
    cfg.parent = Some("runs/teacher/ckpt.safetensors".into());
    let model = Model::init(&cfg, 1)?;
    let bytes = actor_to_onnx(&model)?;

    let proto = ModelProto::parse_from_bytes(&bytes)?;
    assert_eq!(proto.ir_version, IR_VERSION);
    assert_eq!(proto.producer_name, "deepcrl");
    assert_eq!(proto.opset_import.len(), 1);
    assert_eq!(proto.opset_import[0].domain, "");
    assert_eq!(proto.opset_import[0].version, OPSET_VERSION);
    let entry = proto.metadata_props.iter().find(|e| e.key == CONFIG_KEY).ok_or("no deepcrl.config metadata")?;
    let stored: ModelConfig = serde_json::from_str(&entry.value)?;
    assert_eq!(stored, cfg);

    // Initializers carry the checkpoint names, shapes and values.
    let graph = proto.graph.as_ref().ok_or("no graph")?;
    let name = "actor.trunk.blocks.1.2.linear.weight";
    let init = graph.initializer.iter().find(|t| t.name == name).ok_or("missing initializer")?;
    assert_eq!(init.dims, vec![32, 32]);
    let want: Vec<u8> = model.tensor(name).ok_or("missing tensor")?.iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(init.raw_data, want);
    let inputs: Vec<_> = graph.input.iter().map(|v| v.name.as_str()).collect();
    let outputs: Vec<_> = graph.output.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(inputs, ["state", "goal"]);
    assert_eq!(outputs, ["action", "mean", "log_std"]);

    // tract sees the same metadata.
    let onnx = tract_onnx::onnx().model_for_read(&mut bytes.as_slice())?;
    let prop =
        onnx.properties.get(&format!("onnx.metadata_props.{CONFIG_KEY}")).ok_or("tract did not read the metadata")?;
    let view = prop.to_plain_array_view::<String>()?;
    let json = view.iter().next().ok_or("empty metadata tensor")?;
    assert_eq!(serde_json::from_str::<ModelConfig>(json)?, cfg);
    Ok(())
}
