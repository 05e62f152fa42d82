//! The fused update split across ranks, each holding its own B rows of one batch of N = ranks·B, so
//! that together they compute exactly the loss and gradients of one process with the whole batch.
//!
//! Only the critic couples rows: InfoNCE compares every φ(s_i, a_i) with every ψ(g_j). So each rank
//! gathers all N goal embeddings ψ, computes its own B rows of the `[N, N]` logit matrix, and the
//! ranks sum their contributions to dL/dψ before each backpropagates its own goals. The actor's loss
//! and α's are per row; every mean is taken over N, so the ranks' parameter gradients add up to the
//! whole batch's, with one all-reduce of the flat gradient buffer. Adam then runs on identical
//! gradients, and the parameters stay identical on every rank.
//!
//! ```text
//! phase 1:  actor forward + sample        ‖  ψ(g), φ(s, a) forward        then all-gather ψ
//! phase 2:  φ(s, π) fwd/bwd, actor bwd    ‖  this rank's rows of the loss  then all-reduce dψ
//! phase 3:  φ and ψ backward on this rank's rows                         then all-reduce the gradients
//! ```
//! Communication per update: N·r floats gathered, N·r and the parameter count summed.

use super::heads::Rows;
use super::trunk::Threads;
use super::update::{both, sized, FastTrainer, Split};
use crate::collective::Collective;
use crate::crl::{CrlBatch, CrlStats, Dims};
use crate::error::Result;
use crate::fast::heads::RowSums;

/// The buffers of the exchanged embeddings.
#[derive(Default, Debug)]
pub(super) struct Exchange {
    /// `[N, r]`: every rank's ψ(g), in rank order.
    psi_all: Vec<f32>,
    /// `[N, r]`: dL/dψ, this rank's rows' contribution, then the sum.
    d_psi_all: Vec<f32>,
}

impl FastTrainer {
    /// One update of the whole batch that `comm`'s ranks hold together (`batch` is this rank's B
    /// rows), then Adam. With one rank it is [`FastTrainer::step`]. The statistics are the whole
    /// batch's, the same on every rank.
    pub fn step_with(&mut self, batch: &CrlBatch, comm: &mut dyn Collective) -> Result<CrlStats> {
        if comm.size() == 1 {
            return self.step(batch);
        }
        let stats = self.compute_grads_with(batch, comm)?;
        self.adam.step(&mut self.model.params, &self.grads);
        Ok(stats)
    }

    /// Fills `self.grads` with the whole batch's gradients (summed over ranks).
    pub fn compute_grads_with(&mut self, batch: &CrlBatch, comm: &mut dyn Collective) -> Result<CrlStats> {
        let b = batch.size(&self.model.cfg)?;
        let d = Dims::new(&self.model.cfg, b);
        let n = b * comm.size();
        let block = Rows { rows: b, offset: comm.rank() * b, n };
        let inv_n = 1.0 / n as f32;
        // α's loss is linear in the mean log π, so each rank's share of its gradient adds up too.
        let entropy_share = self.target_entropy / comm.size() as f32;
        let Split { actor, critic, pa, pc, g_actor, g_critic, la, alpha, aw, cw, psi, exchange: ex, par } =
            self.split();
        let th = Threads::ONE;

        both(
            par,
            || aw.forward(actor, pa, batch, d, th),
            || {
                cw.psi_forward(critic, pc, batch.goals, d, psi, th);
                cw.phi_forward(critic, pc, batch, d, th);
            },
        );
        comm.all_gather(psi, sized(&mut ex.psi_all, n * d.r))?;
        let psi = &*psi;
        let (psi_all, d_psi_all) = (&ex.psi_all, sized(&mut ex.d_psi_all, n * d.r));
        let mut sums = RowSums::default();
        both(
            par,
            || aw.backward(actor, pa, critic, pc, psi, alpha, batch, d, inv_n, g_actor, th),
            || {
                let (phi, d_phi, loss) = cw.loss_buffers(d);
                sums = loss.compute_block(phi, psi_all, block, d.r, d_phi, d_psi_all);
            },
        );
        comm.all_reduce_sum(d_psi_all)?;
        let mine = block.offset * d.r..(block.offset + b) * d.r;
        cw.d_psi(d).copy_from_slice(&d_psi_all[mine]);
        cw.backward(critic, pc, d, g_critic, th);

        let mut scalars = [sums.loss, sums.correct, sums.pos, sums.total, aw.mean_log_prob.into(), aw.mean_q.into()];
        self.grads[la] = alpha * (-aw.mean_log_prob - entropy_share);
        comm.all_reduce_sum(&mut self.grads)?;
        comm.all_reduce_sum_f64(&mut scalars)?;
        let cw = &mut self.critic_ws;
        cw.loss.set_stats(&RowSums::from_array([scalars[0], scalars[1], scalars[2], scalars[3]]), n);
        let (mean_log_prob, mean_q) = (scalars[4] as f32, scalars[5] as f32);
        Ok(CrlStats {
            critic_loss: cw.loss.loss,
            actor_loss: alpha * mean_log_prob - mean_q,
            alpha_loss: self.grads[la],
            alpha,
            entropy: -mean_log_prob,
            critic_accuracy: cw.loss.accuracy,
            logits_pos: cw.loss.logits_pos,
            logits_neg: cw.loss.logits_neg,
        })
    }
}
