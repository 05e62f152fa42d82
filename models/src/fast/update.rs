//! One full CRL update on the fast path, in the order of DESIGN.md section 3.
//!
//! Actor + α step with the pre-update critic: sample a ~ π(s, g) by reparameterisation, Q through φ
//! (input gradients only, the critic is frozen) and ψ(g), loss mean(α log π − Q). Critic step on the
//! same batch: InfoNCE + 0.1·logsumexp² on (s, a_replay, g). ψ(g) is the same in both steps (the
//! critic has not moved yet), so its forward runs once and its tape serves the critic backward.
//! Then fused Adam over the one flat parameter buffer.

use super::heads::{linear_forward, linear_input_grad, linear_param_grads, q_and_grad, ActorSample, CriticLoss};
use super::trunk::{Threads, TrunkTape};
use crate::crl::{Adam, AdamConfig, CrlBatch, CrlStats};
use crate::error::{ModelError, Result};
use crate::layout::Model;
use crate::reference::target_entropy;

/// Reusable buffers of one update.
#[derive(Default, Debug)]
struct Workspace {
    actor: TrunkTape,
    sa: TrunkTape,
    g: TrunkTape,
    obs: Vec<f32>,
    sa_in: Vec<f32>,
    d_sa_in: Vec<f32>,
    mean: Vec<f32>,
    raw: Vec<f32>,
    d_mean: Vec<f32>,
    d_raw: Vec<f32>,
    d_action: Vec<f32>,
    d_log_prob: Vec<f32>,
    sample: ActorSample,
    phi: Vec<f32>,
    psi: Vec<f32>,
    d_phi: Vec<f32>,
    d_psi: Vec<f32>,
    q: Vec<f32>,
    d_h: Vec<f32>,
    d_h2: Vec<f32>,
    critic: CriticLoss,
}

fn sized(v: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if v.len() != n {
        v.resize(n, 0.0);
    }
    v
}

/// Trains a model in place with the fast path: `grads` then Adam.
pub struct FastTrainer {
    pub model: Model,
    pub adam: Adam,
    /// The gradients of the last update, in the parameter layout.
    pub grads: Vec<f32>,
    pub threads: Threads,
    ws: Workspace,
}

impl FastTrainer {
    pub fn new(model: Model, adam: AdamConfig, threads: usize) -> Result<Self> {
        if model.layout.critic.is_none() {
            return Err(ModelError::Config("CRL training needs a critic (critic_depth > 0)".into()));
        }
        let n = model.layout.len;
        Ok(FastTrainer {
            adam: Adam::new(adam, n),
            grads: vec![0.0; n],
            threads: Threads::new(threads),
            ws: Workspace::default(),
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
        let cfg = &self.model.cfg;
        let b = batch.size(cfg)?;
        let (sd, gd, ad, w, rd) = (cfg.state_dim, cfg.goal_dim, cfg.action_dim, cfg.width, cfg.repr_dim);
        let lay = &self.model.layout;
        let critic = lay.critic.as_ref().ok_or_else(|| ModelError::Config("no critic".into()))?;
        let la = lay.log_alpha.ok_or_else(|| ModelError::Config("no log_alpha".into()))?;
        let p = &self.model.params;
        let th = self.threads;
        let ws = &mut self.ws;
        let grads = &mut self.grads;

        // ---- actor + α step (critic frozen) ----
        let obs = sized(&mut ws.obs, b * (sd + gd));
        for i in 0..b {
            obs[i * (sd + gd)..i * (sd + gd) + sd].copy_from_slice(&batch.states[i * sd..(i + 1) * sd]);
            obs[i * (sd + gd) + sd..(i + 1) * (sd + gd)].copy_from_slice(&batch.goals[i * gd..(i + 1) * gd]);
        }
        let h_a = ws.actor.forward(&lay.actor.trunk, p, obs, b, th);
        linear_forward(&lay.actor.mean, p, h_a, b, sized(&mut ws.mean, b * ad));
        linear_forward(&lay.actor.log_std, p, h_a, b, sized(&mut ws.raw, b * ad));
        ws.sample.compute(&ws.mean, &ws.raw, batch.noise, ad);

        let h_g = ws.g.forward(&critic.g.trunk, p, batch.goals, b, th);
        linear_forward(&critic.g.out, p, h_g, b, sized(&mut ws.psi, b * rd));

        let sa_in = sized(&mut ws.sa_in, b * (sd + ad));
        for i in 0..b {
            sa_in[i * (sd + ad)..i * (sd + ad) + sd].copy_from_slice(&batch.states[i * sd..(i + 1) * sd]);
            sa_in[i * (sd + ad) + sd..(i + 1) * (sd + ad)].copy_from_slice(&ws.sample.action[i * ad..(i + 1) * ad]);
        }
        let h_sa = ws.sa.forward(&critic.sa.trunk, p, sa_in, b, th);
        linear_forward(&critic.sa.out, p, h_sa, b, sized(&mut ws.phi, b * rd));

        let inv_b = 1.0 / b as f32;
        let alpha = p[la].exp();
        sized(&mut ws.q, b);
        q_and_grad(&ws.phi, &ws.psi, rd, inv_b, &mut ws.q, sized(&mut ws.d_phi, b * rd));
        let mean_log_prob = ws.sample.log_prob.iter().sum::<f32>() * inv_b;
        let mean_q = ws.q.iter().sum::<f32>() * inv_b;
        let actor_loss = alpha * mean_log_prob - mean_q;

        linear_input_grad(&critic.sa.out, p, &ws.d_phi, b, sized(&mut ws.d_h, b * w));
        ws.sa.backward(&critic.sa.trunk, p, &ws.d_h, None, Some(sized(&mut ws.d_sa_in, b * (sd + ad))), th);
        let d_action = sized(&mut ws.d_action, b * ad);
        for i in 0..b {
            d_action[i * ad..(i + 1) * ad].copy_from_slice(&ws.d_sa_in[i * (sd + ad) + sd..(i + 1) * (sd + ad)]);
        }
        sized(&mut ws.d_log_prob, b).fill(alpha * inv_b);
        ws.sample.backward(
            &ws.d_action,
            &ws.d_log_prob,
            batch.noise,
            ad,
            sized(&mut ws.d_mean, b * ad),
            sized(&mut ws.d_raw, b * ad),
        );
        let h_a = ws.actor.output();
        linear_param_grads(&lay.actor.mean, h_a, &ws.d_mean, b, grads);
        linear_param_grads(&lay.actor.log_std, h_a, &ws.d_raw, b, grads);
        let d_h = sized(&mut ws.d_h, b * w);
        linear_input_grad(&lay.actor.mean, p, &ws.d_mean, b, d_h);
        let d_h2 = sized(&mut ws.d_h2, b * w);
        linear_input_grad(&lay.actor.log_std, p, &ws.d_raw, b, d_h2);
        d_h.iter_mut().zip(d_h2.iter()).for_each(|(a, b)| *a += b);
        ws.actor.backward(&lay.actor.trunk, p, &ws.d_h, Some(grads), None, th);

        let target = target_entropy(ad) as f32;
        let alpha_grad = alpha * (-mean_log_prob - target);
        grads[la] = alpha_grad;

        // ---- critic step on (s, a_replay, g) ----
        let sa_in = sized(&mut ws.sa_in, b * (sd + ad));
        for i in 0..b {
            sa_in[i * (sd + ad)..i * (sd + ad) + sd].copy_from_slice(&batch.states[i * sd..(i + 1) * sd]);
            sa_in[i * (sd + ad) + sd..(i + 1) * (sd + ad)].copy_from_slice(&batch.actions[i * ad..(i + 1) * ad]);
        }
        let h_sa = ws.sa.forward(&critic.sa.trunk, p, sa_in, b, th);
        linear_forward(&critic.sa.out, p, h_sa, b, sized(&mut ws.phi, b * rd));
        ws.critic.compute(&ws.phi, &ws.psi, b, rd, sized(&mut ws.d_phi, b * rd), sized(&mut ws.d_psi, b * rd));

        linear_param_grads(&critic.sa.out, ws.sa.output(), &ws.d_phi, b, grads);
        linear_input_grad(&critic.sa.out, p, &ws.d_phi, b, sized(&mut ws.d_h, b * w));
        ws.sa.backward(&critic.sa.trunk, p, &ws.d_h, Some(grads), None, th);
        linear_param_grads(&critic.g.out, ws.g.output(), &ws.d_psi, b, grads);
        linear_input_grad(&critic.g.out, p, &ws.d_psi, b, sized(&mut ws.d_h, b * w));
        ws.g.backward(&critic.g.trunk, p, &ws.d_h, Some(grads), None, th);

        Ok(CrlStats {
            critic_loss: ws.critic.loss,
            actor_loss,
            alpha_loss: alpha_grad,
            alpha,
            entropy: -mean_log_prob,
            critic_accuracy: ws.critic.accuracy,
            logits_pos: ws.critic.logits_pos,
            logits_neg: ws.critic.logits_neg,
        })
    }
}
