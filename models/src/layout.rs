//! Where every parameter of a model lives: one flat `f32` buffer, and a layout of named slots in it.
//!
//! The names are exactly the safetensors tensor names of DESIGN.md section 5
//! (`actor.trunk.blocks.{b}.{l}.linear.weight`, `critic.sa.out.bias`, `log_alpha`, ...), so a reader
//! can go from a name in a checkpoint to the slot the fast path reads. A flat buffer makes gradients,
//! Adam moments and checkpoints the same shape as the parameters, and lets Adam run as one pass.
//!
//! A trunk is a list of `depth + 1` layers (Linear → LayerNorm → SiLU): layer 0 is the input layer
//! `in → W`, layers `1 + 4b .. 1 + 4b + 4` form residual block `b`, whose input is added after its
//! fourth activation. Inside a block the layers are `W → w0 → w1 → w2 → W`, with the inner widths
//! `w0, w1, w2 ≤ W` from [`ModelConfig::block_inner_widths`] (all `W` unless width-pruned); each
//! LayerNorm is over its own layer's width.

use std::ops::Range;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::{ModelConfig, TrunkKind};
use crate::error::Result;

/// A `Linear(n_in, n_out)`: weight `[n_out, n_in]` at `w`, bias `[n_out]` at `b`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearSlot {
    pub w: usize,
    pub b: usize,
    pub n_in: usize,
    pub n_out: usize,
}

impl LinearSlot {
    /// The same slot in a buffer that starts `delta` values later (for a sub-span of the buffer).
    pub fn rebased(&self, delta: usize) -> Self {
        LinearSlot { w: self.w - delta, b: self.b - delta, ..*self }
    }
}

/// A LayerNorm over `dim` features: scale at `g`, bias at `b`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NormSlot {
    pub g: usize,
    pub b: usize,
    pub dim: usize,
}

/// One Linear → LayerNorm → SiLU layer of a trunk.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerSlot {
    pub linear: LinearSlot,
    pub norm: NormSlot,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrunkLayout {
    pub n_in: usize,
    /// The residual stream width W: the input layer's and every block's output width.
    pub width: usize,
    /// `layers[0]` is the input layer; the rest are the block layers, four per block.
    pub layers: Vec<LayerSlot>,
}

impl NormSlot {
    pub fn rebased(&self, delta: usize) -> Self {
        NormSlot { g: self.g - delta, b: self.b - delta, ..*self }
    }
}

impl TrunkLayout {
    pub fn rebased(&self, delta: usize) -> Self {
        let layers = self
            .layers
            .iter()
            .map(|l| LayerSlot { linear: l.linear.rebased(delta), norm: l.norm.rebased(delta) })
            .collect();
        TrunkLayout { layers, ..*self }
    }

    pub fn blocks(&self) -> usize {
        (self.layers.len() - 1) / 4
    }

    /// The widest layer output (the stream width unless a layout was built by hand): the size, per
    /// row, of a buffer that can hold any layer's activation.
    pub fn max_width(&self) -> usize {
        self.layers.iter().map(|l| l.linear.n_out).fold(self.width, usize::max)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ActorLayout {
    pub trunk: TrunkLayout,
    /// The trunk's output is normalised (no parameters) before the heads ([`ModelConfig::head_norm`]).
    pub head_norm: bool,
    pub mean: LinearSlot,
    pub log_std: LinearSlot,
    /// The span of the flat buffer holding every actor parameter.
    pub range: Range<usize>,
}

/// φ(s,a) or ψ(g): a trunk and a `Linear(W, repr_dim)` output.
#[derive(Clone, Debug, PartialEq)]
pub struct EncoderLayout {
    pub trunk: TrunkLayout,
    pub out: LinearSlot,
    pub range: Range<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CriticLayout {
    pub sa: EncoderLayout,
    pub g: EncoderLayout,
    pub range: Range<usize>,
}

impl EncoderLayout {
    pub fn rebased(&self, delta: usize) -> Self {
        let range = self.range.start - delta..self.range.end - delta;
        EncoderLayout { trunk: self.trunk.rebased(delta), out: self.out.rebased(delta), range }
    }
}

impl CriticLayout {
    /// The critic's slots relative to the start of its own span, so code can work on
    /// `params[critic.range]` alone while another thread works on the actor's span.
    pub fn local(&self) -> Self {
        let d = self.range.start;
        CriticLayout { sa: self.sa.rebased(d), g: self.g.rebased(d), range: 0..self.range.len() }
    }
}

/// A named tensor inside the flat buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
}

impl TensorSpec {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.numel()
    }
}

/// The layout of a whole model: actor, critic (absent when `critic_depth == 0`, as for an
/// actor-only student) and the entropy temperature `log_alpha`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelLayout {
    pub actor: ActorLayout,
    pub critic: Option<CriticLayout>,
    pub log_alpha: Option<usize>,
    pub specs: Vec<TensorSpec>,
    pub len: usize,
}

struct Builder {
    specs: Vec<TensorSpec>,
    len: usize,
}

impl Builder {
    fn tensor(&mut self, name: String, shape: Vec<usize>) -> usize {
        let offset = self.len;
        self.len += shape.iter().product::<usize>();
        self.specs.push(TensorSpec { name, shape, offset });
        offset
    }

    fn linear(&mut self, prefix: &str, n_in: usize, n_out: usize) -> LinearSlot {
        let w = self.tensor(format!("{prefix}.weight"), vec![n_out, n_in]);
        let b = self.tensor(format!("{prefix}.bias"), vec![n_out]);
        LinearSlot { w, b, n_in, n_out }
    }

    fn norm(&mut self, prefix: &str, dim: usize) -> NormSlot {
        let g = self.tensor(format!("{prefix}.weight"), vec![dim]);
        let b = self.tensor(format!("{prefix}.bias"), vec![dim]);
        NormSlot { g, b, dim }
    }

    /// The trunk `kind` of `cfg` on `n_in` inputs: block `b` is `W → w0 → w1 → w2 → W`.
    fn trunk(&mut self, kind: TrunkKind, n_in: usize, cfg: &ModelConfig) -> TrunkLayout {
        let (prefix, width) = (kind.prefix(), cfg.width);
        let mut layers = vec![LayerSlot {
            linear: self.linear(&format!("{prefix}.input"), n_in, width),
            norm: self.norm(&format!("{prefix}.input_norm"), width),
        }];
        for (b, inner) in cfg.block_inner_widths(kind).iter().enumerate() {
            let dims = [width, inner[0], inner[1], inner[2], width];
            for l in 0..4 {
                let p = format!("{prefix}.blocks.{b}.{l}");
                layers.push(LayerSlot {
                    linear: self.linear(&format!("{p}.linear"), dims[l], dims[l + 1]),
                    norm: self.norm(&format!("{p}.norm"), dims[l + 1]),
                });
            }
        }
        TrunkLayout { n_in, width, layers }
    }

    fn encoder(&mut self, prefix: &str, kind: TrunkKind, n_in: usize, cfg: &ModelConfig) -> EncoderLayout {
        let start = self.len;
        let trunk = self.trunk(kind, n_in, cfg);
        let out = self.linear(&format!("{prefix}.out"), cfg.width, cfg.repr_dim);
        EncoderLayout { trunk, out, range: start..self.len }
    }
}

impl ModelLayout {
    pub fn new(cfg: &ModelConfig) -> Result<Self> {
        cfg.validate()?;
        let mut b = Builder { specs: Vec::new(), len: 0 };
        let (s, g, a, w) = (cfg.state_dim, cfg.goal_dim, cfg.action_dim, cfg.width);
        let trunk = b.trunk(TrunkKind::Actor, s + g, cfg);
        let mean = b.linear("actor.mean", w, a);
        let log_std = b.linear("actor.log_std", w, a);
        let actor = ActorLayout { trunk, head_norm: cfg.head_norm, mean, log_std, range: 0..b.len };
        let (critic, log_alpha) = if cfg.critic_depth > 0 {
            let start = b.len;
            let sa = b.encoder("critic.sa", TrunkKind::CriticSa, s + a, cfg);
            let g_enc = b.encoder("critic.g", TrunkKind::CriticG, g, cfg);
            let critic = CriticLayout { sa, g: g_enc, range: start..b.len };
            (Some(critic), Some(b.tensor("log_alpha".into(), vec![1])))
        } else {
            (None, None)
        };
        Ok(ModelLayout { actor, critic, log_alpha, len: b.len, specs: b.specs })
    }

    pub fn spec(&self, name: &str) -> Option<&TensorSpec> {
        self.specs.iter().find(|s| s.name == name)
    }
}

/// The initial LayerNorm scale γ of every residual block's last layer (`train --residual-init`):
/// the scale of what each block adds to the residual stream. The block's last Linear feeds a
/// LayerNorm, so scaling that Linear's weights would change nothing; γ is the branch's scale. Only
/// the starting point differs: the network, its checkpoints and every path that runs it are the same.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResidualInit {
    /// γ = 1, as every other LayerNorm (DESIGN.md section 2, the reference's initialisation). The
    /// stream's scale grows with depth: RMS 1.7 entering the heads at 4 blocks, 15.5 at 64 (issue 26).
    #[default]
    Standard,
    /// γ = 0: each block adds SiLU(β) = SiLU(0) = 0, so it starts as the identity and the stream
    /// entering the heads is the input layer's output at any depth (zero-γ residual initialisation,
    /// as in Goyal et al. 2017 and ReZero). The blocks' other layers get gradient once γ moves.
    Zero,
    /// γ = 1/√blocks: smaller branches, so the stream grows more slowly with the number of blocks
    /// (RMS entering the heads near the start: 0.97 at depth 64 and 1.9 at 256, against 4.2 and
    /// 15.5 at γ = 1). It still grows, and did not keep a depth-256 actor's heads in range (issue 26).
    InvSqrtBlocks,
}

impl ResidualInit {
    /// γ of the blocks' last LayerNorm in a trunk of `blocks` residual blocks.
    pub fn gamma(self, blocks: usize) -> f32 {
        match self {
            ResidualInit::Standard => 1.0,
            ResidualInit::Zero => 0.0,
            ResidualInit::InvSqrtBlocks => 1.0 / (blocks.max(1) as f32).sqrt(),
        }
    }
}

/// A model's configuration, layout and parameters.
#[derive(Clone, Debug)]
pub struct Model {
    pub cfg: ModelConfig,
    pub layout: ModelLayout,
    pub params: Vec<f32>,
}

impl Model {
    /// Fresh parameters as DESIGN.md section 2: Linear weights U(−1/√fan_in, 1/√fan_in), biases 0,
    /// LayerNorm scale 1 and bias 0, log α = 0. Deterministic in `seed`.
    pub fn init(cfg: &ModelConfig, seed: u64) -> Result<Self> {
        Self::init_with(cfg, seed, ResidualInit::Standard)
    }

    /// As [`Model::init`], with the residual blocks' output scale set by `residual`. The random
    /// draws are the same for every choice, so a comparison on one seed differs only in that scale.
    pub fn init_with(cfg: &ModelConfig, seed: u64, residual: ResidualInit) -> Result<Self> {
        let mut model = Self::init_standard(cfg, seed)?;
        let mut trunks = vec![&model.layout.actor.trunk];
        if let Some(c) = &model.layout.critic {
            trunks.extend([&c.sa.trunk, &c.g.trunk]);
        }
        for trunk in trunks {
            let gamma = residual.gamma(trunk.blocks());
            for block in trunk.layers[1..].chunks_exact(4) {
                let n = block[3].norm;
                model.params[n.g..n.g + n.dim].fill(gamma);
            }
        }
        Ok(model)
    }

    fn init_standard(cfg: &ModelConfig, seed: u64) -> Result<Self> {
        let layout = ModelLayout::new(cfg)?;
        let mut params = vec![0f32; layout.len];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for spec in &layout.specs {
            let dst = &mut params[spec.range()];
            if spec.name.ends_with("norm.weight") {
                dst.fill(1.0);
            } else if spec.shape.len() == 2 {
                let bound = 1.0 / (spec.shape[1] as f32).sqrt();
                dst.iter_mut().for_each(|x| *x = rng.random_range(-bound..bound));
            }
        }
        Ok(Model { cfg: cfg.clone(), layout, params })
    }

    pub fn num_params(&self) -> usize {
        self.layout.len
    }

    /// The parameters of one named tensor.
    pub fn tensor(&self, name: &str) -> Option<&[f32]> {
        self.layout.spec(name).map(|s| &self.params[s.range()])
    }
}
