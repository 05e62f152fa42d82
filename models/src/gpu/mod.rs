//! The GPU training path (issue 16): one CRL update written against the device interface of the
//! `kernels` crate, so the same orchestration runs on the CUDA device and, for tests, on the CPU
//! device that executes the CUDA kernels' own source.
//!
//! - [`trunk`]: a residual trunk's forward and backward on a device (the twin of `fast::trunk`).
//! - [`step`]: the whole update (actor + α, critic, Adam), eager or captured as one graph.
//! - [`actor`]: the stochastic actor's forward for collection and evaluation, on the device.
//! - [`collective`]: the exchanges of a data-parallel step, on device buffers.
//! - [`open`]: a step on the device a `--device` flag names, as a [`TrainStep`] the loop drives.

pub mod actor;
pub mod collective;
pub mod step;
pub mod trunk;

#[cfg(feature = "nccl")]
pub use kernels::nccl::ID_LEN as NCCL_ID_LEN;

/// A new NCCL unique id, for rank 0 to pass to every rank of a job (loads libnccl.so.2).
#[cfg(feature = "nccl")]
pub fn nccl_unique_id() -> Result<[u8; NCCL_ID_LEN]> {
    Ok(kernels::nccl::unique_id()?)
}
pub use step::{DeviceStep, Mode};

use kernels::device::Device;

use crate::crl::{Adam, AdamConfig, CrlBatch, CrlStats};
use crate::device::DeviceSpec;
use crate::error::Result;
use crate::layout::Model;

/// How the GPU multiplies f32 matrices (`--gpu-matmul`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Matmul {
    /// Full FP32, for parity with the CPU path.
    #[default]
    Fp32,
    /// TF32 tensor cores (inputs rounded to 10 mantissa bits: about 1e-3 relative error).
    Tf32,
}

#[cfg(feature = "gpu")]
impl From<Matmul> for kernels::cuda::Matmul {
    fn from(m: Matmul) -> Self {
        match m {
            Matmul::Fp32 => kernels::cuda::Matmul::Fp32,
            Matmul::Tf32 => kernels::cuda::Matmul::Tf32,
        }
    }
}

/// What the training loop needs from a device step, whatever the device.
pub trait TrainStep {
    fn describe(&self) -> String;
    fn step(&mut self, batch: &CrlBatch) -> Result<CrlStats>;
    /// The current parameters (a device-to-host copy).
    fn model(&mut self) -> Result<&Model>;
    fn adam(&mut self) -> Result<Adam>;
    fn restore_adam(&mut self, m: &[f32], v: &[f32], t: u64) -> Result<()>;
    fn set_target_entropy(&mut self, target: f32);
    /// The stochastic actor's (mean, log_std) for `rows` observations.
    fn distribution(&mut self, obs: &[f32], rows: usize) -> Result<(&[f32], &[f32])>;
    /// Kernel launches and products of the last update.
    fn launches_per_step(&self) -> u64;
}

impl<D: Device> TrainStep for DeviceStep<D> {
    fn describe(&self) -> String {
        DeviceStep::describe(self)
    }
    fn step(&mut self, batch: &CrlBatch) -> Result<CrlStats> {
        DeviceStep::step(self, batch)
    }
    fn model(&mut self) -> Result<&Model> {
        DeviceStep::model(self)
    }
    fn adam(&mut self) -> Result<Adam> {
        DeviceStep::adam(self)
    }
    fn restore_adam(&mut self, m: &[f32], v: &[f32], t: u64) -> Result<()> {
        DeviceStep::restore_adam(self, m, v, t)
    }
    fn set_target_entropy(&mut self, target: f32) {
        DeviceStep::set_target_entropy(self, target)
    }
    fn distribution(&mut self, obs: &[f32], rows: usize) -> Result<(&[f32], &[f32])> {
        DeviceStep::distribution(self, obs, rows)
    }
    fn launches_per_step(&self) -> u64 {
        self.launches_per_step
    }
}

/// The device step on `device`: the GPU (`cuda:N`, with the `gpu` or `cuda` feature), or the CPU device
/// that runs the CUDA kernels' own source (`cpu`, with the `cpu-sim` feature: slow, for tests and
/// cross-checks). The whole step is captured as a graph unless `mode` says eager.
pub fn open(
    device: &DeviceSpec,
    matmul: Matmul,
    model: Model,
    adam: AdamConfig,
    batch: usize,
    mode: Mode,
) -> Result<Box<dyn TrainStep>> {
    // Which arguments a branch uses depends on the features built in.
    let args = (matmul, model, adam, batch, mode);
    match device {
        #[cfg(feature = "gpu")]
        DeviceSpec::Cuda(n) => {
            let (matmul, model, adam, batch, mode) = args;
            let m = matmul.into();
            Ok(Box::new(DeviceStep::new(kernels::cuda::CudaDevice::new(*n, m)?, model, adam, batch, mode)?))
        }
        #[cfg(not(feature = "gpu"))]
        DeviceSpec::Cuda(_) => Err(crate::error::ModelError::Device {
            spec: {
                drop(args);
                device.to_string()
            },
            msg: "this build has no CUDA support; rebuild with --features gpu (our GPU step) or cuda (with candle's) (README: GPUs)".into(),
        }),
        #[cfg(feature = "cpu-sim")]
        DeviceSpec::Cpu => {
            let (_, model, adam, batch, mode) = args;
            Ok(Box::new(DeviceStep::new(kernels::cpu::CpuDevice::new(), model, adam, batch, mode)?))
        }
        #[cfg(not(feature = "cpu-sim"))]
        DeviceSpec::Cpu => Err(crate::error::ModelError::Device {
            spec: {
                drop(args);
                device.to_string()
            },
            msg: "the GPU kernels on the CPU need a build with the cpu-sim feature (they are for tests); train on the \
                  CPU with --backend fast"
                .into(),
        }),
    }
}

/// One rank of a data-parallel step on GPU `ordinal`, its exchanges over NCCL (the `nccl` feature):
/// `id` is rank 0's [`kernels::nccl::unique_id`], passed to every rank by the caller. Every rank of
/// the job must make this call (joining is collective).
#[cfg(feature = "nccl")]
#[allow(clippy::too_many_arguments)] // the step's own arguments and the rank's place in the job
pub fn open_data_parallel(
    ordinal: usize,
    matmul: Matmul,
    model: Model,
    adam: AdamConfig,
    batch: usize,
    mode: Mode,
    id: [u8; kernels::nccl::ID_LEN],
    rank: usize,
    ranks: usize,
) -> Result<Box<dyn TrainStep>> {
    let dev = kernels::cuda::CudaDevice::new(ordinal, matmul.into())?;
    let comm = Box::new(collective::NcclCollective(dev.nccl(id, rank, ranks)?));
    Ok(Box::new(DeviceStep::data_parallel(dev, model, adam, batch, mode, comm)?))
}
