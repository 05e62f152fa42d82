//! ONNX export of the deterministic actor (DESIGN.md section 2).
//!
//! The exported graph (opset 17, IR version 8) computes, for inputs `state: f32[batch, state_dim]` and
//! `goal: f32[batch, goal_dim]` (`batch` is a symbolic dimension):
//!
//! ```text
//! x        = Concat(state, goal; axis 1)
//! h        = SiLU(LayerNorm(Gemm(x, actor.trunk.input)))            input layer
//! for each residual block b, layer l = 0..4:
//!   a      = SiLU(LayerNorm(Gemm(a, actor.trunk.blocks.{b}.{l}.linear)))   (a starts as h)
//! h        = Add(h, a)                                              after the 4th layer of a block
//! h        = LayerNormalization(h; scale 1, bias 0)                 only with `head_norm`
//! mean     = Gemm(h, actor.mean)
//! log_std  = Add(Mul(Add(Tanh(Gemm(h, actor.log_std)), 1), 3.5), -5)   in [-5, 2]
//! action   = Tanh(mean)
//! ```
//!
//! Layers inside a block may be narrower than the stream (width-pruned models): the graph is the
//! same, each `Gemm` and `LayerNormalization` taking its width from its initializers.
//!
//! Every Linear is a `Gemm` with `transB = 1`, so weights are stored `[out, in]` exactly as in the
//! flat parameter buffer and the safetensors checkpoint; every initializer carries its checkpoint
//! tensor name (`actor.trunk.blocks.0.1.linear.weight`, ...). LayerNorm is the opset-17
//! `LayerNormalization` (axis −1, epsilon 1e-6, scale and bias initializers) and SiLU is
//! `Mul(x, Sigmoid(x))`. The graph has three outputs, each `f32[batch, action_dim]`: `action`,
//! `mean` and `log_std`. The model's [`ModelConfig`](crate::ModelConfig) is stored as JSON in the
//! metadata entry [`CONFIG_KEY`].
//!
//! ```
//! use models::{ModelConfig, Model, onnx::actor_to_onnx};
//! let model = Model::init(&ModelConfig::point_maze(4).with_width(16), 0).unwrap();
//! let bytes = actor_to_onnx(&model).unwrap();
//! assert!(!bytes.is_empty());
//! ```

use std::collections::HashMap;
use std::path::Path;

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::tensor_shape_proto::{dimension, Dimension};
use onnx_protobuf::{
    type_proto, AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

use crate::error::{ModelError, Result};
use crate::layout::{Model, TensorSpec};
use crate::numerics::{LN_EPS, LOG_STD_MAX, LOG_STD_MIN};

/// The ONNX IR version written (onnxruntime and tract both accept 8 with opset 17).
pub const IR_VERSION: i64 = 8;
/// The default-domain operator set the graph is written against.
pub const OPSET_VERSION: i64 = 17;
/// Metadata key under which the model's `ModelConfig` is stored as JSON.
pub const CONFIG_KEY: &str = "deepcrl.config";
/// Name of the symbolic batch dimension of every input and output.
pub const BATCH_DIM: &str = "batch";

/// A protobuf message may not exceed 2 GiB; larger models would need ONNX external data.
const PROTOBUF_LIMIT: usize = i32::MAX as usize;

/// Builds the ONNX model of `model`'s deterministic actor and returns its serialised bytes.
///
/// Fails with [`ModelError::Onnx`] if the parameter buffer does not match the layout, or if the
/// weights would not fit in one protobuf message (2 GiB).
pub fn actor_to_onnx(model: &Model) -> Result<Vec<u8>> {
    if model.params.len() != model.layout.len {
        return Err(ModelError::Onnx(format!(
            "the parameter buffer holds {} values but the layout needs {}",
            model.params.len(),
            model.layout.len
        )));
    }
    let (cfg, actor) = (&model.cfg, &model.layout.actor);
    if actor.trunk.n_in != cfg.state_dim + cfg.goal_dim || actor.mean.n_out != cfg.action_dim {
        return Err(ModelError::Onnx(format!(
            "the layout (actor input {}, action {}) does not match the config (state {} + goal {}, \
             action {}); rebuild the layout from the config",
            actor.trunk.n_in, actor.mean.n_out, cfg.state_dim, cfg.goal_dim, cfg.action_dim
        )));
    }
    let actor_bytes = 4 * actor.range.len();
    if actor_bytes > PROTOBUF_LIMIT {
        return Err(ModelError::Onnx(format!(
            "the actor's weights take {actor_bytes} bytes, over the 2 GiB limit of one ONNX protobuf \
             file; export a smaller actor (external data is not supported)"
        )));
    }
    let config = serde_json::to_string(&model.cfg)
        .map_err(|e| ModelError::Onnx(format!("cannot serialise the model config: {e}")))?;

    let mut g = GraphBuilder::new(model);
    let x = g.node("Concat", "actor.input", &["state", "goal"], vec![attr_int("axis", 1)]);
    let mut h = g.layer(&x, "actor.trunk.input", "actor.trunk.input_norm")?;
    for b in 0..actor.trunk.blocks() {
        let mut a = h.clone();
        for l in 0..4 {
            let p = format!("actor.trunk.blocks.{b}.{l}");
            a = g.layer(&a, &format!("{p}.linear"), &format!("{p}.norm"))?;
        }
        h = g.node("Add", &format!("actor.trunk.blocks.{b}.residual"), &[&h, &a], vec![]);
    }
    if actor.head_norm {
        h = g.plain_norm(&h, "actor.head_norm", actor.trunk.width);
    }
    let mean = g.linear(&h, "actor.mean", "mean")?;
    let raw = g.linear(&h, "actor.log_std", "actor.log_std")?;
    let t = g.node("Tanh", "actor.log_std.tanh", &[&raw], vec![]);
    let one = g.scalar("actor.log_std.one", 1.0);
    let t1 = g.node("Add", "actor.log_std.shift", &[&t, &one], vec![]);
    let half_range = (0.5 * (LOG_STD_MAX - LOG_STD_MIN)) as f32;
    let half_range = g.scalar("actor.log_std.half_range", half_range);
    let scaled = g.node("Mul", "actor.log_std.scale", &[&t1, &half_range], vec![]);
    let min = g.scalar("actor.log_std.min", LOG_STD_MIN as f32);
    g.node("Add", "log_std", &[&scaled, &min], vec![]);
    g.node("Tanh", "action", &[&mean], vec![]);

    let GraphBuilder { nodes, initializers, .. } = g;
    let graph = GraphProto {
        name: "deepcrl_actor".to_string(),
        doc_string: "deepcrl deterministic actor: action = tanh(mean)".to_string(),
        node: nodes,
        initializer: initializers,
        input: vec![
            value_info("state", cfg.state_dim, "observed state"),
            value_info("goal", cfg.goal_dim, "goal in goal space"),
        ],
        output: vec![
            value_info("action", cfg.action_dim, "deterministic action tanh(mean)"),
            value_info("mean", cfg.action_dim, "Gaussian mean before the tanh"),
            value_info("log_std", cfg.action_dim, "Gaussian log standard deviation in [-5, 2]"),
        ],
        ..GraphProto::default()
    };
    let proto = ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET_VERSION,
            ..OperatorSetIdProto::default()
        }],
        producer_name: "deepcrl".to_string(),
        producer_version: env!("CARGO_PKG_VERSION").to_string(),
        doc_string: format!("deepcrl actor for {} (depth {})", cfg.env, cfg.actor_depth),
        graph: Some(graph).into(),
        metadata_props: vec![StringStringEntryProto {
            key: CONFIG_KEY.to_string(),
            value: config,
            ..StringStringEntryProto::default()
        }],
        ..ModelProto::default()
    };
    proto.write_to_bytes().map_err(|e| ModelError::Onnx(format!("cannot serialise the ONNX model: {e}")))
}

/// Exports the actor to `path` as an ONNX file.
///
/// The bytes go to a temporary file in the same directory, which is synced and then renamed over
/// `path`, so a reader never sees a half-written file.
pub fn export_actor(model: &Model, path: &Path) -> Result<()> {
    crate::atomic::write_bytes_atomic(path, &actor_to_onnx(model)?)
}

/// Accumulates nodes and initializers; value names are unique because every node is named after
/// the checkpoint prefix it belongs to.
struct GraphBuilder<'a> {
    model: &'a Model,
    specs: HashMap<&'a str, &'a TensorSpec>,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl<'a> GraphBuilder<'a> {
    fn new(model: &'a Model) -> Self {
        let specs = model.layout.specs.iter().map(|s| (s.name.as_str(), s)).collect();
        GraphBuilder { model, specs, nodes: Vec::new(), initializers: Vec::new() }
    }

    /// Adds a node whose one output is named `name`, and returns that name.
    fn node(&mut self, op: &str, name: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        self.nodes.push(NodeProto {
            op_type: op.to_string(),
            name: name.to_string(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.to_string()],
            attribute,
            ..NodeProto::default()
        });
        name.to_string()
    }

    /// Adds the checkpoint tensor `name` as an initializer (raw little-endian f32) and returns its
    /// name; `rank` is the rank it must have.
    fn param(&mut self, name: &str, rank: usize) -> Result<String> {
        let spec = self.specs.get(name).ok_or_else(|| ModelError::Onnx(format!("the model has no tensor {name}")))?;
        if spec.shape.len() != rank {
            return Err(ModelError::Onnx(format!("tensor {name} has shape {:?}, expected rank {rank}", spec.shape)));
        }
        let values = self
            .model
            .params
            .get(spec.range())
            .ok_or_else(|| ModelError::Onnx(format!("tensor {name} lies outside the parameter buffer")))?;
        let dims = spec.shape.iter().map(|&d| d as i64).collect();
        self.initializers.push(f32_tensor(name, dims, values));
        Ok(name.to_string())
    }

    /// A scalar f32 initializer.
    fn scalar(&mut self, name: &str, value: f32) -> String {
        self.initializers.push(f32_tensor(name, vec![], &[value]));
        name.to_string()
    }

    /// `x Wᵀ + b` for the checkpoint Linear `prefix`, as the value `out`.
    fn linear(&mut self, x: &str, prefix: &str, out: &str) -> Result<String> {
        let w = self.param(&format!("{prefix}.weight"), 2)?;
        let b = self.param(&format!("{prefix}.bias"), 1)?;
        Ok(self.node("Gemm", out, &[x, &w, &b], vec![attr_int("transB", 1)]))
    }

    /// LayerNorm without parameters (scale 1, bias 0 as constant initializers) over `width`.
    fn plain_norm(&mut self, x: &str, name: &str, width: usize) -> String {
        let (scale, bias) = (format!("{name}.scale"), format!("{name}.bias"));
        self.initializers.push(f32_tensor(&scale, vec![width as i64], &vec![1.0; width]));
        self.initializers.push(f32_tensor(&bias, vec![width as i64], &vec![0.0; width]));
        let attrs = vec![attr_int("axis", -1), attr_float("epsilon", LN_EPS as f32)];
        self.node("LayerNormalization", name, &[x, &scale, &bias], attrs)
    }

    /// Linear → LayerNorm → SiLU.
    fn layer(&mut self, x: &str, linear: &str, norm: &str) -> Result<String> {
        let y = self.linear(x, linear, linear)?;
        let g = self.param(&format!("{norm}.weight"), 1)?;
        let b = self.param(&format!("{norm}.bias"), 1)?;
        let attrs = vec![attr_int("axis", -1), attr_float("epsilon", LN_EPS as f32)];
        let n = self.node("LayerNormalization", norm, &[&y, &g, &b], attrs);
        let s = self.node("Sigmoid", &format!("{norm}.sigmoid"), &[&n], vec![]);
        Ok(self.node("Mul", &format!("{norm}.silu"), &[&n, &s], vec![]))
    }
}

/// An f32 tensor stored as little-endian `raw_data`.
fn f32_tensor(name: &str, dims: Vec<i64>, values: &[f32]) -> TensorProto {
    let raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    TensorProto { name: name.to_string(), dims, data_type: DataType::FLOAT as i32, raw_data, ..TensorProto::default() }
}

/// An f32 `[batch, dim]` graph input or output.
fn value_info(name: &str, dim: usize, doc: &str) -> ValueInfoProto {
    let dims = [dimension::Value::DimParam(BATCH_DIM.to_string()), dimension::Value::DimValue(dim as i64)];
    let shape = TensorShapeProto {
        dim: dims.into_iter().map(|v| Dimension { value: Some(v), ..Dimension::default() }).collect(),
        ..TensorShapeProto::default()
    };
    let tensor = type_proto::Tensor {
        elem_type: DataType::FLOAT as i32,
        shape: Some(shape).into(),
        ..type_proto::Tensor::default()
    };
    ValueInfoProto {
        name: name.to_string(),
        type_: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), ..TypeProto::default() }).into(),
        doc_string: doc.to_string(),
        ..ValueInfoProto::default()
    }
}

fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: name.to_string(), type_: AttributeType::INT.into(), i, ..AttributeProto::default() }
}

fn attr_float(name: &str, f: f32) -> AttributeProto {
    AttributeProto { name: name.to_string(), type_: AttributeType::FLOAT.into(), f, ..AttributeProto::default() }
}
