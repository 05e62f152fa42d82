//! The networks and CRL losses written with composed candle ops and candle's autograd.
//!
//! This is the plain, obviously-correct version of DESIGN.md sections 2–3: the fast CPU path
//! (`crate::fast`) is tested against it, it is the path that runs on CUDA, and it works in f64 for
//! finite-difference checks. LayerNorm is composed by hand because candle's fused norms have no
//! backward (DESIGN.md section 10): nothing here may use `candle_nn::ops::layer_norm`.
//!
//! ```
//! use models::{ModelConfig, Model, reference::CandleModel};
//! use candle_core::{Device, DType, Tensor};
//! let model = Model::init(&ModelConfig::point_maze(4).with_width(16), 0).unwrap();
//! let net = CandleModel::from_model(&model, &Device::Cpu, DType::F32).unwrap();
//! let obs = Tensor::zeros((3, 6), DType::F32, &Device::Cpu).unwrap();
//! let (mean, log_std) = net.actor(&obs).unwrap();
//! assert_eq!(mean.dims(), &[3, 2]);
//! assert_eq!(log_std.dims(), &[3, 2]);
//! ```

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var, D};

use crate::config::ModelConfig;
use crate::error::{ModelError, Result};
use crate::layout::Model;

pub use crate::numerics::{target_entropy, DIST_EPS, LN_EPS, LOG_STD_MAX, LOG_STD_MIN, LSE_PENALTY};

/// A model's parameters as candle `Var`s named exactly as in the checkpoint.
pub struct CandleModel {
    pub cfg: ModelConfig,
    pub vars: HashMap<String, Var>,
    /// Names in layout order, so conversions back to the flat buffer are deterministic.
    pub names: Vec<String>,
    pub device: Device,
    pub dtype: DType,
}

impl CandleModel {
    pub fn from_model(model: &Model, device: &Device, dtype: DType) -> Result<Self> {
        let mut vars = HashMap::new();
        let mut names = Vec::new();
        for spec in &model.layout.specs {
            let t = Tensor::from_slice(&model.params[spec.range()], spec.shape.as_slice(), device)?.to_dtype(dtype)?;
            vars.insert(spec.name.clone(), Var::from_tensor(&t)?);
            names.push(spec.name.clone());
        }
        Ok(CandleModel { cfg: model.cfg.clone(), vars, names, device: device.clone(), dtype })
    }

    /// Copies the current values back into `model.params` (f32).
    pub fn write_back(&self, model: &mut Model) -> Result<()> {
        for spec in &model.layout.specs {
            let v = self.get(&spec.name)?.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
            model.params[spec.range()].copy_from_slice(&v);
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.vars
            .get(name)
            .map(|v| v.as_tensor())
            .ok_or_else(|| ModelError::Shape(format!("model has no tensor {name}")))
    }

    /// `x Wᵀ + b` for the Linear named `prefix`.
    pub fn linear(&self, prefix: &str, x: &Tensor) -> Result<Tensor> {
        let w = self.get(&format!("{prefix}.weight"))?;
        let b = self.get(&format!("{prefix}.bias"))?;
        Ok(x.matmul(&w.t()?)?.broadcast_add(b)?)
    }

    /// LayerNorm over the last axis, composed from differentiable ops.
    pub fn layer_norm(&self, prefix: &str, x: &Tensor) -> Result<Tensor> {
        let g = self.get(&format!("{prefix}.weight"))?;
        let b = self.get(&format!("{prefix}.bias"))?;
        Ok(normalise(x)?.broadcast_mul(g)?.broadcast_add(b)?)
    }

    fn layer(&self, linear: &str, norm: &str, x: &Tensor) -> Result<Tensor> {
        Ok(self.layer_norm(norm, &self.linear(linear, x)?)?.silu()?)
    }

    /// Trunk(x): input layer, then `depth / 4` residual blocks of four layers each. Every width
    /// comes from the tensors, so blocks narrowed by width pruning need nothing special here.
    pub fn trunk(&self, prefix: &str, depth: usize, x: &Tensor) -> Result<Tensor> {
        let mut h = self.layer(&format!("{prefix}.input"), &format!("{prefix}.input_norm"), x)?;
        for b in 0..depth / 4 {
            let mut a = h.clone();
            for l in 0..4 {
                let p = format!("{prefix}.blocks.{b}.{l}");
                a = self.layer(&format!("{p}.linear"), &format!("{p}.norm"), &a)?;
            }
            h = (h + a)?;
        }
        Ok(h)
    }

    /// The actor's Gaussian before the tanh: (mean, log_std), log_std squashed into [−5, 2].
    pub fn actor(&self, obs: &Tensor) -> Result<(Tensor, Tensor)> {
        let mut h = self.trunk("actor.trunk", self.cfg.actor_depth, obs)?;
        if self.cfg.head_norm {
            h = normalise(&h)?;
        }
        let mean = self.linear("actor.mean", &h)?;
        let raw = self.linear("actor.log_std", &h)?.tanh()?;
        let log_std = ((raw + 1.0)? * (0.5 * (LOG_STD_MAX - LOG_STD_MIN)))? + LOG_STD_MIN;
        Ok((mean, log_std?))
    }

    /// φ(s, a): `sa` is the concatenation [state, action].
    pub fn phi(&self, sa: &Tensor) -> Result<Tensor> {
        let h = self.trunk("critic.sa.trunk", self.cfg.critic_depth, sa)?;
        self.linear("critic.sa.out", &h)
    }

    /// ψ(g).
    pub fn psi(&self, g: &Tensor) -> Result<Tensor> {
        let h = self.trunk("critic.g.trunk", self.cfg.critic_depth, g)?;
        self.linear("critic.g.out", &h)
    }
}

/// (x − μ)/√(var + 1e-6) over the last axis: a LayerNorm without scale or bias (the norm before
/// the actor's heads, and the first half of every trunk LayerNorm).
fn normalise(x: &Tensor) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    Ok(centred.broadcast_div(&(var + LN_EPS)?.sqrt()?)?)
}

/// log(1 + eᵘ) without overflow.
fn softplus(u: &Tensor) -> Result<Tensor> {
    let pos = u.relu()?;
    let tail = (u.abs()?.neg()?.exp()? + 1.0)?.log()?;
    Ok((pos + tail)?)
}

/// Row-wise logsumexp of a `[B, B]` matrix; the shift is detached, which leaves the gradient exact.
pub fn logsumexp_rows(x: &Tensor) -> Result<Tensor> {
    let m = x.max_keepdim(1)?.detach();
    let s = x.broadcast_sub(&m)?.exp()?.sum_keepdim(1)?.log()?;
    Ok((s + m)?.squeeze(1)?)
}

/// logits[i, j] = −‖φ_i − ψ_j‖ (with 1e-6 inside the root).
pub fn pairwise_logits(phi: &Tensor, psi: &Tensor) -> Result<Tensor> {
    let diff = phi.unsqueeze(1)?.broadcast_sub(&psi.unsqueeze(0)?)?;
    Ok((diff.sqr()?.sum(D::Minus1)? + DIST_EPS)?.sqrt()?.neg()?)
}

/// The CRL critic loss: InfoNCE over the rows of the logit matrix plus 0.1·mean(logsumexp²).
pub fn critic_loss(phi: &Tensor, psi: &Tensor) -> Result<Tensor> {
    let logits = pairwise_logits(phi, psi)?;
    let diag = diagonal(&logits)?;
    critic_loss_from_logits(&logits, &diag)
}

/// The diagonal of a square matrix, differentiably.
pub fn diagonal(x: &Tensor) -> Result<Tensor> {
    let n = x.dim(0)?;
    Ok(x.mul(&Tensor::eye(n, x.dtype(), x.device())?)?.sum(1)?)
}

pub fn critic_loss_from_logits(logits: &Tensor, diag: &Tensor) -> Result<Tensor> {
    let lse = logsumexp_rows(logits)?;
    let nce = (lse.clone() - diag)?.mean_all()?;
    Ok((nce + (lse.sqr()?.mean_all()? * LSE_PENALTY)?)?)
}

/// The reparameterised tanh-Gaussian sample for noise `eps`: (action, log π(action)).
pub fn sample_action(mean: &Tensor, log_std: &Tensor, eps: &Tensor) -> Result<(Tensor, Tensor)> {
    let std = log_std.exp()?;
    let x = (mean + std.mul(eps)?)?;
    let z = (x.sub(mean)?).div(&std)?;
    let half_log_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
    let gauss = ((z.sqr()? * -0.5)? - log_std)? - half_log_2pi;
    // log(1 − tanh(x)²) = 2(log 2 − x − softplus(−2x)): stable for large |x|.
    let correction = ((x.neg()? + std::f64::consts::LN_2)? - softplus(&(&x * -2.0)?)?)? * 2.0;
    let log_prob = (gauss?.sum(D::Minus1)? - correction?.sum(D::Minus1)?)?;
    Ok((x.tanh()?, log_prob))
}

/// Q(s, a, g) = −‖φ(s,a) − ψ(g)‖ row by row.
pub fn q_values(phi: &Tensor, psi: &Tensor) -> Result<Tensor> {
    Ok(((phi - psi)?.sqr()?.sum(D::Minus1)? + DIST_EPS)?.sqrt()?.neg()?)
}
