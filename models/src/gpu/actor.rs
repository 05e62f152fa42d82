//! The stochastic actor's forward on the device for collection and evaluation (issue 16, item 2):
//! the trunk and both heads run where the parameters already are, and only the observations go in
//! and the heads' outputs come out; the host then draws ε and squashes, with the same arithmetic as
//! [`crate::infer::ActorInfer`]. One instance per batch size (the environments, the evaluation
//! episodes), each captured as its own graph on first use when the step runs in graph mode.

use kernels::device::{Buf, Device, Graph};

use super::step::Mode;
use super::trunk::{head_forward, DeviceHeadNorm, DeviceTrunk};
use crate::error::Result;
use crate::layout::ActorLayout;
use crate::numerics::{LOG_STD_MAX, LOG_STD_MIN};

/// The actor's forward for `rows` observations at a time.
pub(super) struct DeviceActor {
    pub rows: usize,
    trunk: DeviceTrunk,
    head_norm: Option<DeviceHeadNorm>,
    obs: Buf,
    mean: Buf,
    raw: Buf,
    graph: Option<Graph>,
    host_mean: Vec<f32>,
    host_log_std: Vec<f32>,
}

impl DeviceActor {
    pub fn new(dev: &mut dyn Device, lay: &ActorLayout, rows: usize) -> Result<Self> {
        let a = lay.mean.n_out;
        Ok(DeviceActor {
            rows,
            trunk: DeviceTrunk::new(dev, &lay.trunk, rows)?,
            head_norm: DeviceHeadNorm::for_layout(dev, lay, rows)?,
            obs: dev.alloc(rows * lay.trunk.n_in)?,
            mean: dev.alloc(rows * a)?,
            raw: dev.alloc(rows * a)?,
            graph: None,
            host_mean: vec![0.0; rows * a],
            host_log_std: vec![0.0; rows * a],
        })
    }

    fn enqueue(&mut self, dev: &mut dyn Device, lay: &ActorLayout, params: Buf) -> Result<()> {
        let mut h = self.trunk.forward(dev, &lay.trunk, params, self.obs.into())?;
        if let Some(norm) = &self.head_norm {
            h = norm.forward(dev, h)?;
        }
        head_forward(dev, &lay.mean, params, h, self.mean.into(), self.rows)?;
        head_forward(dev, &lay.log_std, params, h, self.raw.into(), self.rows)
    }

    /// (mean, log_std) `[rows, action_dim]` for `obs` `[rows, state + goal]`.
    pub fn distribution(
        &mut self,
        dev: &mut dyn Device,
        lay: &ActorLayout,
        params: Buf,
        obs: &[f32],
        mode: Mode,
    ) -> Result<(&[f32], &[f32])> {
        dev.upload(self.obs.into(), obs)?;
        match (mode, self.graph) {
            (Mode::Eager, _) => self.enqueue(dev, lay, params)?,
            (Mode::Graph, Some(g)) => dev.replay(g)?,
            (Mode::Graph, None) => {
                dev.begin_capture()?;
                let recorded = self.enqueue(dev, lay, params);
                let graph = dev.end_capture();
                recorded?;
                let g = graph?;
                self.graph = Some(g);
                dev.replay(g)?;
            }
        }
        dev.download(self.mean.into(), &mut self.host_mean)?;
        dev.download(self.raw.into(), &mut self.host_log_std)?;
        let half = 0.5 * (LOG_STD_MAX - LOG_STD_MIN) as f32;
        for v in &mut self.host_log_std {
            *v = LOG_STD_MIN as f32 + half * (v.tanh() + 1.0);
        }
        Ok((&self.host_mean, &self.host_log_std))
    }
}
