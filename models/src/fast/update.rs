//! One full CRL update on the fast path, in the order of DESIGN.md section 3.
//!
//! Actor + α step with the pre-update critic: sample a ~ π(s, g) by reparameterisation, Q through φ
//! (input gradients only, the critic is frozen) and ψ(g), loss mean(α log π − Q). Critic step on the
//! same batch: InfoNCE + 0.1·logsumexp² on (s, a_replay, g). Then fused Adam over the one flat
//! parameter buffer.
//!
//! Both steps read the same pre-update critic, so they are independent once ψ(g) is known, and ψ(g)
//! is shared (its forward runs once). With two threads the update runs as two chains of whole
//! trunks instead of splitting every small matmul:
//!
//! ```text
//! phase 1:  actor forward + sample        ‖  ψ(g) forward
//! phase 2:  φ(s, π) fwd/bwd, actor bwd    ‖  φ(s, a) fwd, critic loss, φ bwd, ψ bwd
//! ```
#![allow(clippy::too_many_arguments)] // the chains take their disjoint buffers explicitly

use rayon::join;

use super::head_norm;
use super::heads::{linear_forward, linear_input_grad, linear_param_grads, q_and_grad, ActorSample, CriticLoss};
use super::trunk::{Threads, TrunkTape};
use crate::crl::{Adam, AdamConfig, CrlBatch, CrlStats, Dims};
use crate::error::{ModelError, Result};
use crate::layout::{ActorLayout, CriticLayout, Model};
use crate::numerics::target_entropy;

pub(super) fn sized(v: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if v.len() != n {
        v.resize(n, 0.0);
    }
    v
}

/// Rows of `[a | b]` from row-major `a [B, da]` and `b [B, db]`.
fn concat_rows(a: &[f32], da: usize, b: &[f32], db: usize, rows: usize, out: &mut Vec<f32>) {
    let out = sized(out, rows * (da + db));
    for (i, row) in out.chunks_exact_mut(da + db).enumerate() {
        row[..da].copy_from_slice(&a[i * da..(i + 1) * da]);
        row[da..].copy_from_slice(&b[i * db..(i + 1) * db]);
    }
}

/// The actor chain's buffers.
#[derive(Default, Debug)]
pub(super) struct ActorWs {
    pub(super) trunk: TrunkTape,
    /// φ on (s, π's action): only its input gradient is taken.
    sa_pi: TrunkTape,
    pub(super) obs: Vec<f32>,
    sa_in: Vec<f32>,
    d_sa_in: Vec<f32>,
    /// The heads' input when the layout normalises it ([`super::head_norm`]): n̂ `[B, W]` and r `[B]`.
    head_in: Vec<f32>,
    head_rstd: Vec<f32>,
    pub(super) mean: Vec<f32>,
    pub(super) raw: Vec<f32>,
    d_mean: Vec<f32>,
    pub(super) d_raw: Vec<f32>,
    pub(super) d_action: Vec<f32>,
    pub(super) d_log_prob: Vec<f32>,
    pub(super) sample: ActorSample,
    phi: Vec<f32>,
    d_phi: Vec<f32>,
    q: Vec<f32>,
    d_h: Vec<f32>,
    d_h2: Vec<f32>,
    /// Σ log π and Σ Q over the batch's rows, divided by the whole batch (across ranks, in
    /// data-parallel training, these are each rank's share of the mean).
    pub(super) mean_log_prob: f32,
    pub(super) mean_q: f32,
}

/// The critic chain's buffers.
#[derive(Default, Debug)]
pub(super) struct CriticWs {
    sa: TrunkTape,
    g: TrunkTape,
    sa_in: Vec<f32>,
    phi: Vec<f32>,
    d_phi: Vec<f32>,
    d_psi: Vec<f32>,
    d_h: Vec<f32>,
    pub(super) loss: CriticLoss,
}

impl ActorWs {
    /// Actor trunk, heads and the reparameterised sample.
    pub(super) fn forward(&mut self, lay: &ActorLayout, p: &[f32], batch: &CrlBatch, d: Dims, th: Threads) {
        concat_rows(batch.states, d.s, batch.goals, d.g, d.b, &mut self.obs);
        let h = self.trunk.forward(&lay.trunk, p, &self.obs, d.b, th);
        let h = head_norm::heads_input(lay.head_norm, h, d.w, &mut self.head_in, &mut self.head_rstd);
        linear_forward(&lay.mean, p, h, d.b, sized(&mut self.mean, d.b * d.a));
        linear_forward(&lay.log_std, p, h, d.b, sized(&mut self.raw, d.b * d.a));
        self.sample.compute(&self.mean, &self.raw, batch.noise, d.a);
    }

    /// What the heads read in the last forward: the trunk's output, or its normalisation.
    pub(super) fn heads_input(&self, lay: &ActorLayout) -> &[f32] {
        if lay.head_norm {
            &self.head_in
        } else {
            self.trunk.output()
        }
    }

    /// Q through the frozen φ, then the actor's gradients into `g_actor` (the actor's span).
    /// `inv_n` is one over the whole batch the loss averages: this batch's rows, or every rank's.
    pub(super) fn backward(
        &mut self,
        lay: &ActorLayout,
        p: &[f32],
        critic: &CriticLayout,
        pc: &[f32],
        psi: &[f32],
        alpha: f32,
        batch: &CrlBatch,
        d: Dims,
        inv_n: f32,
        g_actor: &mut [f32],
        th: Threads,
    ) {
        concat_rows(batch.states, d.s, &self.sample.action, d.a, d.b, &mut self.sa_in);
        let h_sa = self.sa_pi.forward(&critic.sa.trunk, pc, &self.sa_in, d.b, th);
        linear_forward(&critic.sa.out, pc, h_sa, d.b, sized(&mut self.phi, d.b * d.r));
        sized(&mut self.q, d.b);
        q_and_grad(&self.phi, psi, d.r, inv_n, &mut self.q, sized(&mut self.d_phi, d.b * d.r));
        self.mean_log_prob = self.sample.log_prob.iter().sum::<f32>() * inv_n;
        self.mean_q = self.q.iter().sum::<f32>() * inv_n;

        linear_input_grad(&critic.sa.out, pc, &self.d_phi, d.b, sized(&mut self.d_h, d.b * d.w));
        let d_in = sized(&mut self.d_sa_in, d.b * (d.s + d.a));
        self.sa_pi.backward(&critic.sa.trunk, pc, &self.d_h, None, Some(d_in), th);
        let d_action = sized(&mut self.d_action, d.b * d.a);
        for (dst, row) in d_action.chunks_exact_mut(d.a).zip(self.d_sa_in.chunks_exact(d.s + d.a)) {
            dst.copy_from_slice(&row[d.s..]);
        }
        sized(&mut self.d_log_prob, d.b).fill(alpha * inv_n);
        let (d_mean, d_raw) = (sized(&mut self.d_mean, d.b * d.a), sized(&mut self.d_raw, d.b * d.a));
        self.sample.backward(&self.d_action, &self.d_log_prob, batch.noise, d.a, d_mean, d_raw);

        let h_a = self.heads_input(lay);
        linear_param_grads(&lay.mean, h_a, &self.d_mean, d.b, g_actor);
        linear_param_grads(&lay.log_std, h_a, &self.d_raw, d.b, g_actor);
        let d_h = sized(&mut self.d_h, d.b * d.w);
        linear_input_grad(&lay.mean, p, &self.d_mean, d.b, d_h);
        let d_h2 = sized(&mut self.d_h2, d.b * d.w);
        linear_input_grad(&lay.log_std, p, &self.d_raw, d.b, d_h2);
        d_h.iter_mut().zip(d_h2.iter()).for_each(|(x, y)| *x += y);
        if lay.head_norm {
            head_norm::backward(d_h, &self.head_in, &self.head_rstd, d.w);
        }
        self.trunk.backward(&lay.trunk, p, &self.d_h, Some(g_actor), None, th);
    }
}

impl CriticWs {
    pub(super) fn psi_forward(
        &mut self,
        c: &CriticLayout,
        pc: &[f32],
        goals: &[f32],
        d: Dims,
        psi: &mut Vec<f32>,
        th: Threads,
    ) {
        let h = self.g.forward(&c.g.trunk, pc, goals, d.b, th);
        linear_forward(&c.g.out, pc, h, d.b, sized(psi, d.b * d.r));
    }

    /// φ on (s, a_replay).
    pub(super) fn phi_forward(&mut self, c: &CriticLayout, pc: &[f32], batch: &CrlBatch, d: Dims, th: Threads) {
        concat_rows(batch.states, d.s, batch.actions, d.a, d.b, &mut self.sa_in);
        let h = self.sa.forward(&c.sa.trunk, pc, &self.sa_in, d.b, th);
        linear_forward(&c.sa.out, pc, h, d.b, sized(&mut self.phi, d.b * d.r));
    }

    /// The critic loss on (s, a_replay, g) and the gradients of both encoders into `g_critic`.
    fn step(
        &mut self,
        c: &CriticLayout,
        pc: &[f32],
        psi: &[f32],
        batch: &CrlBatch,
        d: Dims,
        g_critic: &mut [f32],
        th: Threads,
    ) {
        self.phi_forward(c, pc, batch, d, th);
        let (d_phi, d_psi) = (sized(&mut self.d_phi, d.b * d.r), sized(&mut self.d_psi, d.b * d.r));
        self.loss.compute(&self.phi, psi, d.b, d.r, d_phi, d_psi);
        self.backward(c, pc, d, g_critic, th);
    }

    /// What the loss reads and writes beside ψ: φ, dφ (sized for `d`) and the loss itself.
    pub(super) fn loss_buffers(&mut self, d: Dims) -> (&[f32], &mut [f32], &mut CriticLoss) {
        (&self.phi, sized(&mut self.d_phi, d.b * d.r), &mut self.loss)
    }

    /// This batch's dL/dψ rows, for the data-parallel step to fill from the summed gradient.
    pub(super) fn d_psi(&mut self, d: Dims) -> &mut [f32] {
        sized(&mut self.d_psi, d.b * d.r)
    }

    /// Both encoders' gradients into `g_critic` from dL/dφ and dL/dψ.
    pub(super) fn backward(&mut self, c: &CriticLayout, pc: &[f32], d: Dims, g_critic: &mut [f32], th: Threads) {
        linear_param_grads(&c.sa.out, self.sa.output(), &self.d_phi, d.b, g_critic);
        linear_input_grad(&c.sa.out, pc, &self.d_phi, d.b, sized(&mut self.d_h, d.b * d.w));
        self.sa.backward(&c.sa.trunk, pc, &self.d_h, Some(g_critic), None, th);
        linear_param_grads(&c.g.out, self.g.output(), &self.d_psi, d.b, g_critic);
        linear_input_grad(&c.g.out, pc, &self.d_psi, d.b, sized(&mut self.d_h, d.b * d.w));
        self.g.backward(&c.g.trunk, pc, &self.d_h, Some(g_critic), None, th);
    }
}

/// Trains a model in place with the fast path: `compute_grads` then Adam.
pub struct FastTrainer {
    pub model: Model,
    pub adam: Adam,
    /// The gradients of the last update, in the parameter layout.
    pub grads: Vec<f32>,
    /// The entropy α tunes toward; DESIGN's −0.5·|A| unless a run overrides it.
    pub target_entropy: f32,
    pub(super) threads: usize,
    /// The critic's slots relative to its own span.
    pub(super) critic: CriticLayout,
    pub(super) actor_ws: ActorWs,
    pub(super) critic_ws: CriticWs,
    pub(super) psi: Vec<f32>,
    pub(super) exchange: super::data_parallel::Exchange,
}

impl FastTrainer {
    /// `threads`: 1 runs everything on the calling thread; 2 or more run the two chains above in
    /// parallel on rayon's pool.
    pub fn new(model: Model, adam: AdamConfig, threads: usize) -> Result<Self> {
        let critic = model.layout.critic.as_ref().map(CriticLayout::local);
        let (Some(critic), Some(_)) = (critic, model.layout.log_alpha) else {
            return Err(ModelError::Config("CRL training needs a critic (critic_depth > 0)".into()));
        };
        let n = model.layout.len;
        Ok(FastTrainer {
            adam: Adam::new(adam, n),
            grads: vec![0.0; n],
            target_entropy: target_entropy(model.cfg.action_dim) as f32,
            threads,
            critic,
            actor_ws: ActorWs::default(),
            critic_ws: CriticWs::default(),
            psi: Vec::new(),
            exchange: Default::default(),
            model,
        })
    }

    /// One full update: gradients, then Adam on actor, α and critic.
    pub fn step(&mut self, batch: &CrlBatch) -> Result<CrlStats> {
        let stats = self.compute_grads(batch)?;
        self.adam.step(&mut self.model.params, &self.grads);
        Ok(stats)
    }

    /// Fills `self.grads` for one update without changing the parameters.
    pub fn compute_grads(&mut self, batch: &CrlBatch) -> Result<CrlStats> {
        let b = batch.size(&self.model.cfg)?;
        let d = Dims::new(&self.model.cfg, b);
        let target_entropy = self.target_entropy;
        let Split { actor, critic, pa, pc, g_actor, g_critic, la, alpha, aw, cw, psi, par, .. } = self.split();
        let th = Threads::ONE;

        both(par, || aw.forward(actor, pa, batch, d, th), || cw.psi_forward(critic, pc, batch.goals, d, psi, th));
        let psi = &*psi;
        both(
            par,
            || aw.backward(actor, pa, critic, pc, psi, alpha, batch, d, 1.0 / d.b as f32, g_actor, th),
            || cw.step(critic, pc, psi, batch, d, g_critic, th),
        );

        let alpha_grad = alpha * (-aw.mean_log_prob - target_entropy);
        self.grads[la] = alpha_grad;
        let (aw, cw) = (&self.actor_ws, &self.critic_ws);
        Ok(CrlStats {
            critic_loss: cw.loss.loss,
            actor_loss: alpha * aw.mean_log_prob - aw.mean_q,
            alpha_loss: alpha_grad,
            alpha,
            entropy: -aw.mean_log_prob,
            critic_accuracy: cw.loss.accuracy,
            logits_pos: cw.loss.logits_pos,
            logits_neg: cw.loss.logits_neg,
        })
    }

    /// The trainer cut into what one update's chains read and write, each borrowed on its own.
    pub(super) fn split(&mut self) -> Split<'_> {
        let lay = &self.model.layout;
        let span = lay.critic.as_ref().map(|c| c.range.clone()).unwrap_or_default();
        let la = lay.log_alpha.unwrap_or_default();
        let p = &self.model.params;
        let (g_actor, rest) = self.grads.split_at_mut(span.start);
        Split {
            actor: &lay.actor,
            critic: &self.critic,
            pa: &p[..span.start],
            pc: &p[span.clone()],
            g_actor,
            g_critic: &mut rest[..span.len()],
            la,
            alpha: p[la].exp(),
            aw: &mut self.actor_ws,
            cw: &mut self.critic_ws,
            psi: &mut self.psi,
            exchange: &mut self.exchange,
            par: self.threads > 1,
        }
    }
}

/// What [`FastTrainer::split`] returns: layouts and parameters (actor's span, critic's span), the
/// matching gradient spans, α's slot and value, and the chains' buffers.
pub(super) struct Split<'a> {
    pub actor: &'a ActorLayout,
    pub critic: &'a CriticLayout,
    pub pa: &'a [f32],
    pub pc: &'a [f32],
    pub g_actor: &'a mut [f32],
    pub g_critic: &'a mut [f32],
    pub la: usize,
    pub alpha: f32,
    pub aw: &'a mut ActorWs,
    pub cw: &'a mut CriticWs,
    pub psi: &'a mut Vec<f32>,
    pub exchange: &'a mut super::data_parallel::Exchange,
    /// Whether the two chains run on two threads.
    pub par: bool,
}

/// Runs two closures, on two threads when `par`.
pub(super) fn both(par: bool, a: impl FnOnce() + Send, b: impl FnOnce() + Send) {
    if par {
        join(a, b);
    } else {
        a();
        b();
    }
}
