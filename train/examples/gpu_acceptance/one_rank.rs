//! Section 6: the data-parallel step at one rank (`-np 1`), against the plain step, bit for bit. On
//! a GPU its exchanges are NCCL's all-gather and all-reduce on the step's stream, captured in its
//! graph (the `nccl` feature); at one rank every exchange is the identity and every mean is over the
//! same rows, so any difference is a bug in the data-parallel orchestration or its capture. The dry
//! run exchanges through host memory, eagerly.

use anyhow::Result;
use kernels::device::Device;
use models::gpu::{DeviceStep, Mode};
use models::{AdamConfig, Model};

use super::{Batch, Target};

/// (parameters that differ after three steps, parameters), or `None` where this build cannot run it.
pub fn run(target: &Target) -> Result<Option<(usize, usize)>> {
    let (c, rows) = (target.cfg(16, 16), target.batch / 2);
    let model = Model::init(&c, 4)?;
    let adam = AdamConfig::default();
    let batches: Vec<Batch> = (0..3).map(|s| Batch::random(&c, rows, 70 + s)).collect();
    let params = |step| steps(step, &batches);
    let (plain, ranked) = match target.gpu {
        None => {
            use kernels::cpu::CpuDevice;
            use models::collective::Solo;
            use models::gpu::collective::HostCollective;
            let comm = Box::new(HostCollective::new(Solo));
            let ranked = DeviceStep::data_parallel(CpuDevice::new(), model.clone(), adam, rows, Mode::Eager, comm)?;
            (params(DeviceStep::new(CpuDevice::new(), model, adam, rows, Mode::Eager)?)?, params(ranked)?)
        }
        #[cfg(feature = "nccl")]
        Some(n) => {
            let params = |step| steps(step, &batches);
            use kernels::cuda::{CudaDevice, Matmul};
            let dev = CudaDevice::new(n, Matmul::Fp32)?;
            let comm =
                Box::new(models::gpu::collective::NcclCollective(dev.nccl(models::gpu::nccl_unique_id()?, 0, 1)?));
            let ranked = DeviceStep::data_parallel(dev, model.clone(), adam, rows, Mode::Graph, comm)?;
            (
                params(DeviceStep::new(CudaDevice::new(n, Matmul::Fp32)?, model, adam, rows, Mode::Graph)?)?,
                params(ranked)?,
            )
        }
        #[cfg(not(feature = "nccl"))]
        Some(_) => return Ok(None),
    };
    let differing = plain.iter().zip(&ranked).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
    Ok(Some((differing, plain.len())))
}

/// The parameters after stepping `step` through `batches`.
fn steps<D: Device>(mut step: DeviceStep<D>, batches: &[Batch]) -> Result<Vec<f32>> {
    for b in batches {
        step.step(&b.view())?;
    }
    Ok(step.model()?.params.clone())
}
