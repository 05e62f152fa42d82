//! The update backend behind the training loop: the fused CPU path ([`FastTrainer`]), our fused GPU
//! step ([`models::gpu`]: CUDA kernels, cuBLAS, one captured graph), or candle's autograd
//! ([`CandleTrainer`]) on any device candle supports — the reference, and the fallback on a GPU.
//! `backend = "auto"` picks the fused CPU path on the CPU and the fused GPU step on CUDA.

use std::borrow::Cow;

use crate::collect::ActorSource;
use crate::error::{bail, Result};
use candle_core::DType;
use models::candle_update::CandleTrainer;
use models::collective::Collective;
use models::device::DeviceSpec;
use models::fast::FastTrainer;
use models::gpu::{Mode, TrainStep};
use models::infer::ActorInfer;
use models::reference::CandleModel;
use models::{Adam, AdamConfig, CrlBatch, CrlStats, Model, ModelError};

use crate::config::{Backend, TrainConfig};
use crate::ranks::Ranks;

/// One of the update paths, with what the loop needs from each.
pub enum Updater {
    Fast(Box<FastTrainer>),
    /// The device step; its parameters stay on the device, copied out only for checkpoints.
    Device(Box<DeviceUpdater>),
    Candle(Box<CandleUpdater>),
}

/// The candle trainer and a host copy of its parameters, refreshed on demand (a device-to-host copy
/// per collection round, not per SGD step).
pub struct CandleUpdater {
    trainer: CandleTrainer,
    host: Model,
    in_sync: bool,
}

/// The device step.
pub struct DeviceUpdater {
    step: Box<dyn TrainStep>,
}

impl Updater {
    /// The backend `cfg.backend` names, on `cfg.device`, starting from `model`.
    pub fn new(model: Model, adam: AdamConfig, cfg: &TrainConfig) -> Result<Self> {
        let spec: DeviceSpec = cfg.device.parse()?;
        let backend = match (cfg.backend, spec) {
            (Backend::Fast, DeviceSpec::Cuda(_)) => {
                bail!("--backend fast runs on the CPU only; use --backend auto, kernels or candle with --device {spec}")
            }
            (Backend::Auto, DeviceSpec::Cpu) => Backend::Fast,
            (Backend::Auto, DeviceSpec::Cuda(_)) => Backend::Kernels,
            (b, _) => b,
        };
        match backend {
            Backend::Fast | Backend::Auto => Ok(Updater::Fast(Box::new(FastTrainer::new(model, adam, cfg.threads)?))),
            Backend::Kernels => {
                let mode = if cfg.gpu_eager { Mode::Eager } else { Mode::Graph };
                let step = models::gpu::open(&spec, cfg.gpu_matmul.into(), model, adam, cfg.batch_size, mode)?;
                Ok(Updater::Device(Box::new(DeviceUpdater { step })))
            }
            Backend::Candle => {
                let device = spec.open()?;
                let net = CandleModel::from_model(&model, &device, DType::F32)?;
                let trainer = CandleTrainer::new(net, adam)?;
                Ok(Updater::Candle(Box::new(CandleUpdater { trainer, host: model, in_sync: true })))
            }
        }
    }

    /// The backend for one rank of a job over `ranks` (every rank must call it): [`Updater::new`]
    /// alone; across ranks the fused CPU path (whose update exchanges over the ranks' collective),
    /// or our GPU step with its exchanges over NCCL (the `nccl` feature), one GPU per rank.
    pub fn for_ranks(model: Model, adam: AdamConfig, cfg: &TrainConfig, ranks: &mut Ranks) -> Result<Self> {
        if ranks.size() == 1 {
            return Self::new(model, adam, cfg);
        }
        let spec: DeviceSpec = cfg.device.parse()?;
        match (cfg.backend, spec) {
            (Backend::Auto | Backend::Fast, DeviceSpec::Cpu) => Self::new(model, adam, cfg),
            (Backend::Auto | Backend::Kernels, DeviceSpec::Cuda(n)) => device_ranks(model, adam, cfg, ranks, n),
            (b, _) => bail!(
                "--distributed mpi trains on the fused CPU path (--device cpu) or on our GPU step over NCCL \
                 (--device cuda); --backend {} --device {spec} is not supported across ranks: use --backend auto",
                format!("{b:?}").to_lowercase()
            ),
        }
    }

    /// Which path runs, for logs.
    pub fn describe(&self) -> String {
        match self {
            Updater::Fast(_) => "fused CPU path".into(),
            Updater::Device(d) => format!("fused device step on {}", d.step.describe()),
            Updater::Candle(c) => format!("candle on {:?}", c.trainer.net.device),
        }
    }

    pub fn set_target_entropy(&mut self, target: f32) {
        match self {
            Updater::Fast(t) => t.target_entropy = target,
            Updater::Device(d) => d.step.set_target_entropy(target),
            Updater::Candle(c) => c.trainer.target_entropy = f64::from(target),
        }
    }

    /// Continues from saved Adam moments (flat layout) after `t` steps.
    pub fn restore_adam(&mut self, m: Vec<f32>, v: Vec<f32>, t: u64) -> Result<()> {
        match self {
            Updater::Fast(f) => (f.adam.m, f.adam.v, f.adam.t) = (m, v, t),
            Updater::Device(d) => d.step.restore_adam(&m, &v, t)?,
            Updater::Candle(c) => c.trainer.set_adam_state(&c.host.layout, &m, &v, t)?,
        }
        Ok(())
    }

    pub fn step(&mut self, batch: &CrlBatch) -> Result<CrlStats> {
        Ok(match self {
            Updater::Fast(t) => t.step(batch)?,
            Updater::Device(d) => d.step.step(batch)?,
            Updater::Candle(c) => {
                c.in_sync = false;
                c.trainer.step(batch)?
            }
        })
    }

    /// One update of the batch that `comm`'s ranks hold together (`batch` is this rank's rows). A
    /// data-parallel device step exchanges over its own communicator (NCCL), not `comm`.
    pub fn step_with(&mut self, batch: &CrlBatch, comm: &mut dyn Collective) -> Result<CrlStats> {
        match self {
            Updater::Fast(t) => Ok(t.step_with(batch, comm)?),
            Updater::Device(_) => self.step(batch),
            Updater::Candle(_) if comm.size() == 1 => self.step(batch),
            Updater::Candle(_) => bail!("candle's update does not run across ranks; use --backend auto"),
        }
    }

    /// The current parameters (copied back from the device first if they changed there).
    pub fn model(&mut self) -> Result<&Model> {
        match self {
            Updater::Fast(t) => Ok(&t.model),
            Updater::Device(d) => Ok(d.step.model()?),
            Updater::Candle(c) => {
                if !c.in_sync {
                    c.trainer.net.write_back(&mut c.host)?;
                    c.in_sync = true;
                }
                Ok(&c.host)
            }
        }
    }

    /// The stochastic actor collection and evaluation run: the device's own forward for the device
    /// step (nothing is copied back), else `host` refreshed from the current parameters.
    pub fn actor<'a>(&'a mut self, host: &'a mut ActorInfer) -> Result<&'a mut dyn ActorSource> {
        if let Updater::Device(d) = self {
            return Ok(d.as_mut());
        }
        host.refresh(self.model()?)?;
        Ok(host)
    }

    /// The optimiser state for `train_state.safetensors`.
    pub fn adam(&mut self) -> Result<Cow<'_, Adam>> {
        match self {
            Updater::Fast(t) => Ok(Cow::Borrowed(&t.adam)),
            Updater::Device(d) => Ok(Cow::Owned(d.step.adam()?)),
            Updater::Candle(c) => {
                let (m, v) = c.trainer.adam_moments(&c.host.layout)?;
                Ok(Cow::Owned(Adam { cfg: c.trainer.adam, m, v, t: c.trainer.t }))
            }
        }
    }
}

/// One rank's GPU step over NCCL. `--device cuda` gives each rank the GPU of its local rank on its
/// node; `--device cuda:N` pins it (e.g. with CUDA_VISIBLE_DEVICES set per rank).
#[cfg(feature = "nccl")]
fn device_ranks(model: Model, adam: AdamConfig, cfg: &TrainConfig, ranks: &mut Ranks, n: usize) -> Result<Updater> {
    let ordinal = if cfg.device.trim().eq_ignore_ascii_case("cuda") { n + ranks.local_rank() } else { n };
    let mut id = if ranks.is_root() { models::gpu::nccl_unique_id()? } else { [0; models::gpu::NCCL_ID_LEN] };
    ranks.comm().broadcast(&mut id, 0)?;
    let mode = if cfg.gpu_eager { Mode::Eager } else { Mode::Graph };
    let (rank, size) = (ranks.rank(), ranks.size());
    let step = models::gpu::open_data_parallel(
        ordinal,
        cfg.gpu_matmul.into(),
        model,
        adam,
        cfg.batch_size,
        mode,
        id,
        rank,
        size,
    )?;
    Ok(Updater::Device(Box::new(DeviceUpdater { step })))
}

#[cfg(not(feature = "nccl"))]
fn device_ranks(_: Model, _: AdamConfig, _: &TrainConfig, _: &mut Ranks, _: usize) -> Result<Updater> {
    bail!(
        "--distributed mpi on GPUs exchanges over NCCL: build with `cargo build --release -p train --features nccl` \
         (after scripts/mpi.sh; libnccl.so.2 is loaded at run time, e.g. from the nvidia-nccl-cu13 wheel)"
    )
}

impl ActorSource for DeviceUpdater {
    fn distribution(&mut self, obs: &[f32], rows: usize) -> Result<(&[f32], &[f32]), ModelError> {
        self.step.distribution(obs, rows)
    }
}
