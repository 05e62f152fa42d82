//! The CRL update through candle's autograd: the reference the fast path is tested against, and the
//! path that runs on CUDA.
//!
//! Actor loss: mean(α·log π(a|s,g) − Q(s,a,g)) with a ~ π reparameterised and α detached; its
//! gradient is kept for actor parameters only (the critic is frozen in the actor step). α loss:
//! exp(log α)·mean(−log π − target). Critic loss: InfoNCE + 0.1·logsumexp² on (s, a_replay, g).

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, D};

use crate::crl::{AdamConfig, CrlBatch, CrlStats};
use crate::error::Result;
use crate::layout::{Model, ModelLayout};
use crate::reference::{self, CandleModel};

/// The three losses of one update, as graph nodes, and the scalars reported.
struct Losses {
    actor: Tensor,
    /// d(α loss)/d(log α), already a plain value: exp(log α)·mean(−log π − target).
    alpha_grad: Tensor,
    critic: Tensor,
    stats: CrlStats,
}

fn input(net: &CandleModel, data: &[f32], rows: usize, cols: usize) -> Result<Tensor> {
    Ok(Tensor::from_slice(data, (rows, cols), &net.device)?.to_dtype(net.dtype)?)
}

fn scalar(t: &Tensor) -> Result<f32> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()? as f32)
}

fn losses(net: &CandleModel, batch: &CrlBatch, target_entropy: f64) -> Result<Losses> {
    let cfg = &net.cfg;
    let b = batch.size(cfg)?;
    let s = input(net, batch.states, b, cfg.state_dim)?;
    let a = input(net, batch.actions, b, cfg.action_dim)?;
    let g = input(net, batch.goals, b, cfg.goal_dim)?;
    let eps = input(net, batch.noise, b, cfg.action_dim)?;

    let log_alpha = net.get("log_alpha")?;
    let alpha = log_alpha.exp()?.detach().reshape(())?;
    let (mean, log_std) = net.actor(&Tensor::cat(&[&s, &g], 1)?)?;
    let (a_pi, log_prob) = reference::sample_action(&mean, &log_std, &eps)?;
    let psi_pi = net.psi(&g)?.detach();
    let q = reference::q_values(&net.phi(&Tensor::cat(&[&s, &a_pi], 1)?)?, &psi_pi)?;
    let actor = (log_prob.broadcast_mul(&alpha)? - q)?.mean_all()?;
    let alpha_term = (log_prob.detach().neg()? - target_entropy)?.mean_all()?;
    let alpha_grad = alpha.mul(&alpha_term)?;

    let phi = net.phi(&Tensor::cat(&[&s, &a], 1)?)?;
    let psi = net.psi(&g)?;
    let logits = reference::pairwise_logits(&phi, &psi)?;
    let diag = reference::diagonal(&logits)?;
    let critic = reference::critic_loss_from_logits(&logits, &diag)?;

    let argmax = logits.argmax(D::Minus1)?.to_dtype(DType::F64)?;
    let idx = Tensor::arange(0u32, b as u32, &net.device)?.to_dtype(DType::F64)?;
    let correct = scalar(&argmax.eq(&idx)?.to_dtype(DType::F64)?.sum_all()?)?;
    let pos_sum = scalar(&diag.sum_all()?)?;
    let all_sum = scalar(&logits.sum_all()?)?;
    let stats = CrlStats {
        critic_loss: scalar(&critic)?,
        actor_loss: scalar(&actor)?,
        alpha_loss: scalar(&alpha_grad)?,
        alpha: scalar(&alpha)?,
        entropy: -scalar(&log_prob.mean_all()?)?,
        critic_accuracy: correct / b as f32,
        logits_pos: pos_sum / b as f32,
        logits_neg: (all_sum - pos_sum) / (b * (b - 1)) as f32,
    };
    Ok(Losses { actor, alpha_grad, critic, stats })
}

/// candle's backward walks the graph recursively: at depth 1024 it needs more than the 2 MiB a
/// spawned thread gets by default (it aborts the process, it cannot be caught), so deep models run
/// their update on a scoped thread with a large stack.
fn with_deep_stack<T: Send>(cfg: &crate::ModelConfig, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    const DEEP: usize = 128;
    if cfg.actor_depth.max(cfg.critic_depth) <= DEEP {
        return f();
    }
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("candle-backward".into())
            .stack_size(256 << 20)
            .spawn_scoped(scope, f)
            .map_err(|e| crate::error::ModelError::io("spawning the candle backward thread", e))?;
        handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn layout_spec<'a>(layout: &'a ModelLayout, name: &str) -> Result<&'a crate::layout::TensorSpec> {
    layout.spec(name).ok_or_else(|| crate::error::ModelError::Shape(format!("tensor {name} is not in the layout")))
}

fn is_critic(name: &str) -> bool {
    name.starts_with("critic.")
}

/// Gradients of one update in the flat parameter layout (actor span: actor loss; critic span: critic
/// loss; `log_alpha`: α loss), plus the update's scalars. Parameters are not changed.
pub fn candle_grads(net: &CandleModel, model: &Model, batch: &CrlBatch) -> Result<(Vec<f32>, CrlStats)> {
    with_deep_stack(&net.cfg, || candle_grads_inner(net, model, batch))
}

fn candle_grads_inner(net: &CandleModel, model: &Model, batch: &CrlBatch) -> Result<(Vec<f32>, CrlStats)> {
    let l = losses(net, batch, reference::target_entropy(net.cfg.action_dim))?;
    let actor_grads = l.actor.backward()?;
    let critic_grads = l.critic.backward()?;
    let mut flat = vec![0f32; model.layout.len];
    for spec in &model.layout.specs {
        let var = net.get(&spec.name)?;
        let grad = if spec.name == "log_alpha" {
            Some(l.alpha_grad.reshape(1)?)
        } else if is_critic(&spec.name) {
            critic_grads.get(var).cloned()
        } else {
            actor_grads.get(var).cloned()
        };
        if let Some(grad) = grad {
            let v = grad.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
            flat[spec.range()].copy_from_slice(&v);
        }
    }
    Ok((flat, l.stats))
}

/// A device-generic trainer on candle's autograd, with Adam written out on tensors (the same
/// arithmetic as [`crate::Adam`]) so its moments can be saved and restored for `--resume`.
pub struct CandleTrainer {
    pub net: CandleModel,
    pub adam: AdamConfig,
    /// The entropy α is tuned toward (DESIGN's −0.5·|A| by default).
    pub target_entropy: f64,
    /// First and second moments, one tensor per parameter in `net.names` order.
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Steps taken so far (for the bias corrections).
    pub t: u64,
}

impl CandleTrainer {
    pub fn new(net: CandleModel, adam: AdamConfig) -> Result<Self> {
        let zeros = |n: &String| net.vars[n].as_tensor().zeros_like();
        let m = net.names.iter().map(zeros).collect::<candle_core::Result<Vec<_>>>()?;
        let v = net.names.iter().map(zeros).collect::<candle_core::Result<Vec<_>>>()?;
        let target_entropy = reference::target_entropy(net.cfg.action_dim);
        Ok(CandleTrainer { net, adam, target_entropy, m, v, t: 0 })
    }

    /// One full update: actor + α with the pre-update critic, then the critic, on the same batch.
    pub fn step(&mut self, batch: &CrlBatch) -> Result<CrlStats> {
        let cfg = self.net.cfg.clone();
        with_deep_stack(&cfg, || self.step_inner(batch))
    }

    fn step_inner(&mut self, batch: &CrlBatch) -> Result<CrlStats> {
        let l = losses(&self.net, batch, self.target_entropy)?;
        // The actor loss's store also holds gradients for the critic (the graph runs through it):
        // the critic's come from the critic loss instead, so the actor step leaves the critic frozen.
        let actor_grads: GradStore = l.actor.backward()?;
        let critic_grads = l.critic.backward()?;
        let alpha_grad = l.alpha_grad.reshape(1)?;
        self.t += 1;
        let c = self.adam;
        let (b1, b2) = (f64::from(c.beta1), f64::from(c.beta2));
        let (scale_m, scale_v) = c.corrections(self.t);
        for (k, name) in self.net.names.iter().enumerate() {
            let var = &self.net.vars[name];
            let store = if is_critic(name) { &critic_grads } else { &actor_grads };
            // A parameter outside the loss's graph has gradient zero, as in the fast path.
            let g = match (name == "log_alpha", store.get(var.as_tensor())) {
                (true, _) => alpha_grad.clone(),
                (false, Some(g)) => g.clone(),
                (false, None) => var.as_tensor().zeros_like()?,
            };
            let m = ((&self.m[k] * b1)? + (&g * (1.0 - b1))?)?;
            let v = ((&self.v[k] * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let denom = ((&v * scale_v)?.sqrt()? + f64::from(c.eps))?;
            let delta = ((&m * (scale_m * f64::from(c.lr)))? / denom)?;
            var.set(&(var.as_tensor() - delta)?)?;
            (self.m[k], self.v[k]) = (m, v);
        }
        Ok(l.stats)
    }

    /// Adam's moments in the flat layout of `layout` (f32, for `train_state`).
    pub fn adam_moments(&self, layout: &ModelLayout) -> Result<(Vec<f32>, Vec<f32>)> {
        let (mut m, mut v) = (vec![0f32; layout.len], vec![0f32; layout.len]);
        for (k, name) in self.net.names.iter().enumerate() {
            let spec = layout_spec(layout, name)?;
            m[spec.range()].copy_from_slice(&self.m[k].flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?);
            v[spec.range()].copy_from_slice(&self.v[k].flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?);
        }
        Ok((m, v))
    }

    /// Restores Adam's state saved by [`CandleTrainer::adam_moments`].
    pub fn set_adam_state(&mut self, layout: &ModelLayout, m: &[f32], v: &[f32], t: u64) -> Result<()> {
        for (k, name) in self.net.names.iter().enumerate() {
            let spec = layout_spec(layout, name)?;
            let like = self.net.vars[name].as_tensor();
            let load = |flat: &[f32]| -> Result<Tensor> {
                let t = Tensor::from_slice(&flat[spec.range()], spec.shape.as_slice(), &self.net.device)?;
                Ok(t.to_dtype(like.dtype())?)
            };
            (self.m[k], self.v[k]) = (load(m)?, load(v)?);
        }
        self.t = t;
        Ok(())
    }
}
