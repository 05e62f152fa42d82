//! One full CRL update on a [`Device`], in the fused CPU path's order and with its arithmetic
//! ([`crate::fast::update`]): the actor + α step with the pre-update critic, the critic step on the
//! same batch, then Adam over the one flat parameter buffer. Everything the step touches is
//! allocated when the step is built, the batch is the only thing copied in and eight statistics the
//! only thing copied out, and the step's values that change between steps (α, Adam's step count)
//! are read on the device, so the whole step can be captured once as a graph and replayed.

use kernels::device::{Buf, Device, Graph, Ptr};
use kernels::ops::{self, ActorHead, InfoNce, Rows, STATS_LEN};

use super::actor::DeviceActor;
use super::collective::{not_capturable, DeviceCollective};
use super::trunk::{head_forward, head_input_grad, head_param_grads, DeviceHeadNorm, DeviceTrunk};
use crate::crl::{Adam, AdamConfig, CrlBatch, CrlStats, Dims};
use crate::error::{ModelError, Result};
use crate::layout::{CriticLayout, Model};
use crate::numerics::target_entropy;

/// How the step runs: launched call by call, or captured once and replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every call launched as it comes: for debugging, and the reference a replay must equal.
    Eager,
    /// The first step is captured as a graph (and run); every later step replays it.
    Graph,
}

/// The batch as the device holds it.
struct Inputs {
    states: Buf,
    actions: Buf,
    goals: Buf,
    noise: Buf,
}

/// Scratch the step writes between kernels, allocated once.
struct Scratch {
    obs: Buf,
    sa_pi_in: Buf,
    d_sa_pi_in: Buf,
    sa_in: Buf,
    head: ActorHead,
    d_mean: Buf,
    d_raw: Buf,
    psi: Buf,
    phi_pi: Buf,
    d_phi_pi: Buf,
    q: Buf,
    phi: Buf,
    d_phi: Buf,
    d_psi: Buf,
    d_h: Buf,
    d_h2: Buf,
    loss: InfoNce,
    stats: Buf,
}

/// A data-parallel step's ranks and the exchanged embeddings (as `fast::data_parallel`: each rank
/// gathers every ψ, computes its own rows of the loss, and the ranks sum dψ and the gradients).
struct DataParallel<D: Device> {
    comm: Box<dyn DeviceCollective<D>>,
    /// `[n, r]`: every rank's ψ(g), in rank order.
    psi_all: Buf,
    /// `[n, r]`: this rank's rows' share of dL/dψ, then the sum over ranks.
    d_psi_all: Buf,
}

/// The whole update on a device: parameters, gradients, Adam state and every intermediate.
pub struct DeviceStep<D: Device> {
    pub dev: D,
    model: Model,
    critic: CriticLayout,
    log_alpha: usize,
    target_entropy: f32,
    adam: AdamConfig,
    d: Dims,
    params: Buf,
    grads: Buf,
    adam_m: Buf,
    adam_v: Buf,
    /// `[t, 1/(1−β1ᵗ), 1/(1−β2ᵗ)]`, advanced on the device.
    adam_state: Buf,
    inputs: Inputs,
    s: Scratch,
    actor: DeviceTrunk,
    /// The norm before the actor's heads, for a model with one.
    head_norm: Option<DeviceHeadNorm>,
    psi_trunk: DeviceTrunk,
    sa_pi_trunk: DeviceTrunk,
    sa_trunk: DeviceTrunk,
    mode: Mode,
    graph: Option<Graph>,
    /// The ranks of a data-parallel step; `None` alone.
    dp: Option<DataParallel<D>>,
    /// The actor's forward for collection and evaluation, one per batch size seen.
    actors: Vec<DeviceActor>,
    /// Launches of the last step (a replay counts every node of the graph).
    pub launches_per_step: u64,
    /// Whether `model.params` is older than the device's parameters (an update ran since the last
    /// copy out): a checkpoint and an evaluation then share one copy instead of one each.
    host_stale: bool,
}

impl<D: Device> DeviceStep<D> {
    /// Copies `model` to `dev` and allocates everything one update at `batch` rows needs.
    pub fn new(dev: D, model: Model, adam: AdamConfig, batch: usize, mode: Mode) -> Result<Self> {
        Self::build(dev, model, adam, batch, mode, None)
    }

    /// One rank of a data-parallel step over `comm`: this rank's `batch` rows of a batch of
    /// `comm.size() · batch`, whose update it computes exactly with the other ranks.
    pub fn data_parallel(
        dev: D,
        model: Model,
        adam: AdamConfig,
        batch: usize,
        mode: Mode,
        comm: Box<dyn DeviceCollective<D>>,
    ) -> Result<Self> {
        if mode == Mode::Graph && !comm.capturable() {
            return Err(not_capturable());
        }
        Self::build(dev, model, adam, batch, mode, Some(comm))
    }

    fn build(
        mut dev: D,
        model: Model,
        adam: AdamConfig,
        batch: usize,
        mode: Mode,
        comm: Option<Box<dyn DeviceCollective<D>>>,
    ) -> Result<Self> {
        let (Some(critic), Some(log_alpha)) = (model.layout.critic.clone(), model.layout.log_alpha) else {
            return Err(ModelError::Config("CRL training needs a critic (critic_depth > 0)".into()));
        };
        if batch < 2 {
            return Err(ModelError::Shape(format!(
                "batch {batch}: the critic contrasts within the batch, so at least 2"
            )));
        }
        let c = &model.cfg;
        let d = Dims::new(c, batch);
        let n = model.layout.len;
        // The whole batch the loss's columns and every mean run over.
        let whole = batch * comm.as_ref().map_or(1, |c| c.size());
        let dv: &mut dyn Device = &mut dev;
        let params = dv.alloc(n)?;
        dv.upload(params.into(), &model.params)?;
        let (b, a) = (d.b, d.b * d.a);
        let inputs = Inputs {
            states: dv.alloc(b * d.s)?,
            actions: dv.alloc(a)?,
            goals: dv.alloc(b * d.g)?,
            noise: dv.alloc(a)?,
        };
        let head = ActorHead {
            mean: dv.alloc(a)?.into(),
            raw: dv.alloc(a)?.into(),
            noise: inputs.noise.into(),
            t: dv.alloc(a)?.into(),
            std: dv.alloc(a)?.into(),
            action: dv.alloc(a)?.into(),
            log_prob: dv.alloc(b)?.into(),
        };
        let s = Scratch {
            obs: dv.alloc(b * (d.s + d.g))?,
            sa_pi_in: dv.alloc(b * (d.s + d.a))?,
            d_sa_pi_in: dv.alloc(b * (d.s + d.a))?,
            sa_in: dv.alloc(b * (d.s + d.a))?,
            head,
            d_mean: dv.alloc(a)?,
            d_raw: dv.alloc(a)?,
            psi: dv.alloc(b * d.r)?,
            phi_pi: dv.alloc(b * d.r)?,
            d_phi_pi: dv.alloc(b * d.r)?,
            q: dv.alloc(b)?,
            phi: dv.alloc(b * d.r)?,
            d_phi: dv.alloc(b * d.r)?,
            d_psi: dv.alloc(b * d.r)?,
            d_h: dv.alloc(b * d.w)?,
            d_h2: dv.alloc(b * d.w)?,
            loss: InfoNce {
                dist: dv.alloc(b * whole)?.into(),
                coef: dv.alloc(b * whole)?.into(),
                row_stats: dv.alloc(5 * b)?.into(),
            },
            stats: dv.alloc(STATS_LEN)?,
        };
        let dp = match comm {
            Some(comm) => {
                Some(DataParallel { comm, psi_all: dv.alloc(whole * d.r)?, d_psi_all: dv.alloc(whole * d.r)? })
            }
            None => None,
        };
        let lay = &model.layout;
        Ok(DeviceStep {
            grads: dv.alloc(n)?,
            adam_m: dv.alloc(n)?,
            adam_v: dv.alloc(n)?,
            adam_state: dv.alloc(3)?,
            actor: DeviceTrunk::new(dv, &lay.actor.trunk, b)?,
            head_norm: DeviceHeadNorm::for_layout(dv, &lay.actor, b)?,
            psi_trunk: DeviceTrunk::new(dv, &critic.g.trunk, b)?,
            sa_pi_trunk: DeviceTrunk::new(dv, &critic.sa.trunk, b)?,
            sa_trunk: DeviceTrunk::new(dv, &critic.sa.trunk, b)?,
            target_entropy: target_entropy(c.action_dim) as f32,
            critic,
            log_alpha,
            adam,
            d,
            params,
            inputs,
            s,
            mode,
            graph: None,
            dp,
            actors: Vec::new(),
            launches_per_step: 0,
            host_stale: false,
            dev,
            model,
        })
    }

    /// One update on `batch` (which must have the step's batch size).
    pub fn step(&mut self, batch: &CrlBatch) -> Result<CrlStats> {
        let rows = batch.size(&self.model.cfg)?;
        if rows != self.d.b {
            return Err(ModelError::Shape(format!("batch of {rows} rows; this step was built for {}", self.d.b)));
        }
        let before = self.dev.launches();
        self.host_stale = true;
        let dev: &mut dyn Device = &mut self.dev;
        for (buf, v) in [
            (self.inputs.states, batch.states),
            (self.inputs.actions, batch.actions),
            (self.inputs.goals, batch.goals),
            (self.inputs.noise, batch.noise),
        ] {
            dev.upload(buf.into(), v)?;
        }
        match (self.mode, self.graph) {
            (Mode::Eager, _) => self.enqueue()?,
            (Mode::Graph, Some(g)) => self.dev.replay(g)?,
            (Mode::Graph, None) => {
                self.dev.begin_capture()?;
                let recorded = self.enqueue();
                // End the capture even when recording failed, so the device is usable again.
                let graph = self.dev.end_capture();
                recorded?;
                let g = graph?;
                self.graph = Some(g);
                self.dev.replay(g)?;
            }
        }
        self.launches_per_step = self.dev.launches() - before;
        self.stats()
    }

    /// The statistics of the last step, copied from the device.
    fn stats(&mut self) -> Result<CrlStats> {
        let mut st = [0f32; STATS_LEN];
        self.dev.download(self.s.stats.into(), &mut st)?;
        let [critic_loss, accuracy, logits_pos, logits_neg, mean_lp, mean_q, alpha, alpha_grad] = st;
        Ok(CrlStats {
            critic_loss,
            actor_loss: alpha * mean_lp - mean_q,
            alpha_loss: alpha_grad,
            alpha,
            entropy: -mean_lp,
            critic_accuracy: accuracy,
            logits_pos,
            logits_neg,
        })
    }

    /// The model with the device's current parameters.
    pub fn model(&mut self) -> Result<&Model> {
        if self.host_stale {
            self.dev.download(self.params.into(), &mut self.model.params)?;
            self.host_stale = false;
        }
        Ok(&self.model)
    }

    /// The gradients of the last update, in the parameter layout.
    pub fn grads(&mut self) -> Result<Vec<f32>> {
        let mut g = vec![0.0; self.model.layout.len];
        self.dev.download(self.grads.into(), &mut g)?;
        Ok(g)
    }

    /// Adam's first and second moments and its step count.
    pub fn adam_state(&mut self) -> Result<(Vec<f32>, Vec<f32>, u64)> {
        let n = self.model.layout.len;
        let (mut m, mut v, mut st) = (vec![0.0; n], vec![0.0; n], [0f32; 3]);
        self.dev.download(self.adam_m.into(), &mut m)?;
        self.dev.download(self.adam_v.into(), &mut v)?;
        self.dev.download(self.adam_state.into(), &mut st)?;
        Ok((m, v, st[0] as u64))
    }

    /// The entropy α is tuned toward (DESIGN's −0.5·|A| unless a run overrides it). Read when the
    /// step is recorded: set it before the first step.
    pub fn set_target_entropy(&mut self, target: f32) {
        self.target_entropy = target;
        // A recorded graph holds the old value as a kernel argument.
        self.graph = None;
    }

    /// Continues from saved Adam moments (flat layout) after `t` steps.
    pub fn restore_adam(&mut self, m: &[f32], v: &[f32], t: u64) -> Result<()> {
        let n = self.model.layout.len;
        if m.len() != n || v.len() != n {
            return Err(ModelError::Shape(format!(
                "Adam moments of {} and {} values for {n} parameters",
                m.len(),
                v.len()
            )));
        }
        // The device keeps t as an f32, exact up to 2^24 steps.
        if t > 1 << 24 {
            return Err(ModelError::Shape(format!("Adam step {t}: the device path counts steps up to 2^24")));
        }
        self.dev.upload(self.adam_m.into(), m)?;
        self.dev.upload(self.adam_v.into(), v)?;
        // adam_tick recomputes the corrections from t before they are next used.
        self.dev.upload(self.adam_state.into(), &[t as f32, 0.0, 0.0])?;
        Ok(())
    }

    /// The optimiser state, copied from the device.
    pub fn adam(&mut self) -> Result<Adam> {
        let (m, v, t) = self.adam_state()?;
        Ok(Adam { cfg: self.adam, m, v, t })
    }

    /// The stochastic actor's (mean, log_std) for `obs` rows `[state, goal]`, from the current
    /// parameters on the device.
    pub fn distribution(&mut self, obs: &[f32], rows: usize) -> Result<(&[f32], &[f32])> {
        let width = self.d.s + self.d.g;
        if obs.len() != rows * width {
            return Err(ModelError::Shape(format!("{} observation values for {rows} rows of {width}", obs.len())));
        }
        let lay = &self.model.layout.actor;
        let at = match self.actors.iter().position(|a| a.rows == rows) {
            Some(i) => i,
            None => {
                let actor = DeviceActor::new(&mut self.dev, lay, rows)?;
                self.actors.push(actor);
                self.actors.len() - 1
            }
        };
        self.actors[at].distribution(&mut self.dev, lay, self.params, obs, self.mode)
    }

    /// The device, in words.
    pub fn describe(&self) -> String {
        self.dev.describe()
    }

    /// This rank and the ranks of the step: (0, 1) alone.
    fn rank_of(&self) -> (usize, usize) {
        self.dp.as_ref().map_or((0, 1), |dp| (dp.comm.rank(), dp.comm.size()))
    }

    /// Enqueues the whole update: actor + α, critic, Adam (and, across ranks, the exchanges).
    fn enqueue(&mut self) -> Result<()> {
        let (_, ranks) = self.rank_of();
        let whole = self.d.b * ranks;
        self.actor_forward()?;
        self.psi_forward()?;
        if let Some(dp) = self.dp.as_mut() {
            dp.comm.all_gather(&mut self.dev, self.s.psi.into(), dp.psi_all.into(), self.d.b * self.d.r)?;
        }
        self.actor_backward()?;
        self.critic_step()?;
        let dev: &mut dyn Device = &mut self.dev;
        let la = self.params.at(self.log_alpha);
        // α's loss is linear in the mean log π: each rank adds its share, with its share of the target.
        ops::actor_alpha(
            dev,
            self.s.head.log_prob,
            self.s.q.into(),
            la,
            self.target_entropy / ranks as f32,
            self.grads.at(self.log_alpha),
            self.s.stats.into(),
            self.d.b,
            whole,
        )?;
        if let Some(dp) = self.dp.as_mut() {
            let (dev, st) = (&mut self.dev, self.s.stats);
            dp.comm.all_reduce_sum(dev, self.grads.into(), self.model.layout.len)?;
            // Every statistic is a share of the whole batch's, but α (stats[6]), the same on every rank.
            dp.comm.all_reduce_sum(dev, st.into(), 6)?;
            dp.comm.all_reduce_sum(dev, st.at(7), 1)?;
        }
        let dev: &mut dyn Device = &mut self.dev;
        let c = self.adam;
        ops::adam_tick(dev, self.adam_state.into(), c.beta1, c.beta2, c.warmup_steps)?;
        let (p, g, m, v, st) = (self.params, self.grads, self.adam_m, self.adam_v, self.adam_state);
        ops::adam_step(
            dev,
            p.into(),
            g.into(),
            m.into(),
            v.into(),
            st.into(),
            self.model.layout.len,
            [c.lr, c.beta1, c.beta2, c.eps],
        )?;
        Ok(())
    }

    /// Actor trunk, heads and the reparameterised sample.
    fn actor_forward(&mut self) -> Result<()> {
        let (d, lay) = (self.d, &self.model.layout.actor);
        let dev: &mut dyn Device = &mut self.dev;
        let obs: Ptr = self.s.obs.into();
        ops::concat_rows(dev, obs, self.inputs.states.into(), d.s, self.inputs.goals.into(), d.g, d.b)?;
        let mut h = self.actor.forward(dev, &lay.trunk, self.params, obs)?;
        if let Some(norm) = &self.head_norm {
            h = norm.forward(dev, h)?;
        }
        head_forward(dev, &lay.mean, self.params, h, self.s.head.mean, d.b)?;
        head_forward(dev, &lay.log_std, self.params, h, self.s.head.raw, d.b)?;
        ops::actor_sample(dev, &self.s.head, d.b, d.a)?;
        Ok(())
    }

    /// ψ(g), shared by the actor and critic losses.
    fn psi_forward(&mut self) -> Result<()> {
        let (d, c) = (self.d, &self.critic.g);
        let dev: &mut dyn Device = &mut self.dev;
        let h = self.psi_trunk.forward(dev, &c.trunk, self.params, self.inputs.goals.into())?;
        head_forward(dev, &c.out, self.params, h, self.s.psi.into(), d.b)
    }

    /// Q through the frozen φ, then the actor's gradients.
    fn actor_backward(&mut self) -> Result<()> {
        let (_, ranks) = self.rank_of();
        let (d, sa, lay) = (self.d, &self.critic.sa, &self.model.layout.actor);
        let (p, g, s) = (self.params, self.grads, &self.s);
        let dev: &mut dyn Device = &mut self.dev;
        ops::concat_rows(dev, s.sa_pi_in.into(), self.inputs.states.into(), d.s, s.head.action, d.a, d.b)?;
        let h_sa = self.sa_pi_trunk.forward(dev, &sa.trunk, p, s.sa_pi_in.into())?;
        head_forward(dev, &sa.out, p, h_sa, s.phi_pi.into(), d.b)?;
        let whole = d.b * ranks;
        ops::q_and_grad(dev, s.phi_pi.into(), s.psi.into(), s.q.into(), s.d_phi_pi.into(), d.b, d.r, whole)?;
        head_input_grad(dev, &sa.out, p, s.d_phi_pi.into(), s.d_h.into(), d.b)?;
        self.sa_pi_trunk.backward(dev, &sa.trunk, p, s.d_h.into(), None, Some(s.d_sa_pi_in.into()))?;
        let la = p.at(self.log_alpha);
        ops::actor_sample_backward(
            dev,
            &s.head,
            s.d_sa_pi_in.into(),
            d.s + d.a,
            d.s,
            la,
            s.d_mean.into(),
            s.d_raw.into(),
            d.b,
            d.a,
            whole,
        )?;

        let h_a = self.head_norm.as_ref().map_or_else(|| self.actor.output(&lay.trunk), |n| n.output());
        head_param_grads(dev, &lay.mean, h_a, s.d_mean.into(), d.b, g)?;
        head_param_grads(dev, &lay.log_std, h_a, s.d_raw.into(), d.b, g)?;
        head_input_grad(dev, &lay.mean, p, s.d_mean.into(), s.d_h.into(), d.b)?;
        head_input_grad(dev, &lay.log_std, p, s.d_raw.into(), s.d_h2.into(), d.b)?;
        ops::add(dev, s.d_h.into(), s.d_h.into(), s.d_h2.into(), d.b * d.w)?;
        if let Some(norm) = &self.head_norm {
            norm.backward(dev, s.d_h.into())?;
        }
        self.actor.backward(dev, &lay.trunk, p, s.d_h.into(), Some(g), None)
    }

    /// The critic loss on (s, a_replay, g) and both encoders' gradients. Across ranks: this rank's
    /// rows of the loss against every rank's ψ, and the ranks' dψ summed before ψ's backward.
    fn critic_step(&mut self) -> Result<()> {
        let (rank, ranks) = self.rank_of();
        let (d, c) = (self.d, &self.critic);
        let (p, g, s) = (self.params, self.grads, &self.s);
        let dev = &mut self.dev;
        ops::concat_rows(dev, s.sa_in.into(), self.inputs.states.into(), d.s, self.inputs.actions.into(), d.a, d.b)?;
        let h = self.sa_trunk.forward(dev, &c.sa.trunk, p, s.sa_in.into())?;
        head_forward(dev, &c.sa.out, p, h, s.phi.into(), d.b)?;
        let (phi, d_phi) = (s.phi.into(), s.d_phi.into());
        let d_psi: Ptr = match self.dp.as_mut() {
            None => {
                ops::infonce(dev, &s.loss, phi, s.psi.into(), d_phi, s.d_psi.into(), s.stats.into(), d.b, d.r)?;
                s.d_psi.into()
            }
            Some(dp) => {
                let rows = Rows { rows: d.b, offset: rank * d.b, n: ranks * d.b };
                let (psi_all, d_psi_all) = (dp.psi_all.into(), dp.d_psi_all.into());
                ops::infonce_rows(dev, &s.loss, phi, psi_all, d_phi, d_psi_all, s.stats.into(), rows, d.r)?;
                dp.comm.all_reduce_sum(dev, d_psi_all, rows.n * d.r)?;
                dp.d_psi_all.at(rows.offset * d.r)
            }
        };

        head_param_grads(dev, &c.sa.out, h, d_phi, d.b, g)?;
        head_input_grad(dev, &c.sa.out, p, d_phi, s.d_h.into(), d.b)?;
        self.sa_trunk.backward(dev, &c.sa.trunk, p, s.d_h.into(), Some(g), None)?;
        let h_g = self.psi_trunk.output(&c.g.trunk);
        head_param_grads(dev, &c.g.out, h_g, d_psi, d.b, g)?;
        head_input_grad(dev, &c.g.out, p, d_psi, s.d_h.into(), d.b)?;
        self.psi_trunk.backward(dev, &c.g.trunk, p, s.d_h.into(), Some(g), None)
    }
}
