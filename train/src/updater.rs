//! The update backend behind the training loop: the fused CPU path ([`FastTrainer`]) or candle's
//! autograd ([`CandleTrainer`]) on any device candle supports — CUDA for deep teachers on a GPU, or the
//! CPU as a slow reference. `backend = "auto"` picks the fast path on the CPU and candle elsewhere.

use std::borrow::Cow;

use crate::error::{bail, Result};
use candle_core::DType;
use models::candle_update::CandleTrainer;
use models::device::DeviceSpec;
use models::fast::FastTrainer;
use models::reference::CandleModel;
use models::{Adam, AdamConfig, CrlBatch, CrlStats, Model};

use crate::config::{Backend, TrainConfig};

/// One of the two update paths, with what the loop needs from either.
pub enum Updater {
    Fast(Box<FastTrainer>),
    Candle(Box<CandleUpdater>),
}

/// The candle trainer and a host copy of its parameters, refreshed on demand (a device-to-host copy
/// per collection round, not per SGD step).
pub struct CandleUpdater {
    trainer: CandleTrainer,
    host: Model,
    in_sync: bool,
}

impl Updater {
    /// The backend `cfg.backend` names, on `cfg.device`, starting from `model`.
    pub fn new(model: Model, adam: AdamConfig, cfg: &TrainConfig) -> Result<Self> {
        let spec: DeviceSpec = cfg.device.parse()?;
        let candle = match cfg.backend {
            Backend::Fast if spec != DeviceSpec::Cpu => {
                bail!("--backend fast runs on the CPU only; use --backend auto or candle with --device {spec}")
            }
            Backend::Fast => false,
            Backend::Candle => true,
            Backend::Auto => spec != DeviceSpec::Cpu,
        };
        if !candle {
            return Ok(Updater::Fast(Box::new(FastTrainer::new(model, adam, cfg.threads)?)));
        }
        let device = spec.open()?;
        let net = CandleModel::from_model(&model, &device, DType::F32)?;
        let trainer = CandleTrainer::new(net, adam)?;
        Ok(Updater::Candle(Box::new(CandleUpdater { trainer, host: model, in_sync: true })))
    }

    /// Which path runs, for logs.
    pub fn describe(&self) -> String {
        match self {
            Updater::Fast(_) => "fused CPU path".into(),
            Updater::Candle(c) => format!("candle on {:?}", c.trainer.net.device),
        }
    }

    pub fn set_target_entropy(&mut self, target: f32) {
        match self {
            Updater::Fast(t) => t.target_entropy = target,
            Updater::Candle(c) => c.trainer.target_entropy = f64::from(target),
        }
    }

    /// Continues from saved Adam moments (flat layout) after `t` steps.
    pub fn restore_adam(&mut self, m: Vec<f32>, v: Vec<f32>, t: u64) -> Result<()> {
        match self {
            Updater::Fast(f) => (f.adam.m, f.adam.v, f.adam.t) = (m, v, t),
            Updater::Candle(c) => c.trainer.set_adam_state(&c.host.layout, &m, &v, t)?,
        }
        Ok(())
    }

    pub fn step(&mut self, batch: &CrlBatch) -> Result<CrlStats> {
        Ok(match self {
            Updater::Fast(t) => t.step(batch)?,
            Updater::Candle(c) => {
                c.in_sync = false;
                c.trainer.step(batch)?
            }
        })
    }

    /// The current parameters (copied back from the device first if they changed there).
    pub fn model(&mut self) -> Result<&Model> {
        match self {
            Updater::Fast(t) => Ok(&t.model),
            Updater::Candle(c) => {
                if !c.in_sync {
                    c.trainer.net.write_back(&mut c.host)?;
                    c.in_sync = true;
                }
                Ok(&c.host)
            }
        }
    }

    /// The optimiser state for `train_state.safetensors`.
    pub fn adam(&self) -> Result<Cow<'_, Adam>> {
        match self {
            Updater::Fast(t) => Ok(Cow::Borrowed(&t.adam)),
            Updater::Candle(c) => {
                let (m, v) = c.trainer.adam_moments(&c.host.layout)?;
                Ok(Cow::Owned(Adam { cfg: c.trainer.adam, m, v, t: c.trainer.t }))
            }
        }
    }
}
