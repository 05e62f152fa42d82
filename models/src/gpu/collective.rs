//! Collective operations on device buffers for a data-parallel device step
//! ([`crate::gpu::DeviceStep::data_parallel`]): NCCL on CUDA devices (`NcclCollective`, the `nccl`
//! feature: on the step's stream, so they are captured in its graph), or host copies through a
//! [`Collective`] (MPI, or threads in tests) for any device, the CPU device included.

use kernels::device::{Device, Ptr};

use crate::collective::Collective;
use crate::error::{ModelError, Result};

/// What the data-parallel step asks of its ranks, on device buffers of device `D`.
pub trait DeviceCollective<D: Device> {
    fn rank(&self) -> usize;
    fn size(&self) -> usize;
    /// Every rank's `len` values at `src` into `dst` (`size · len` values), in rank order.
    fn all_gather(&mut self, dev: &mut D, src: Ptr, dst: Ptr, len: usize) -> Result<()>;
    /// The elementwise sum over ranks of `len` values at `buf`, in place.
    fn all_reduce_sum(&mut self, dev: &mut D, buf: Ptr, len: usize) -> Result<()>;
    /// Whether these operations can be recorded into the step's graph (host copies cannot).
    fn capturable(&self) -> bool;
}

/// Device collectives through host memory: download, the host collective, upload. For devices
/// without a device-side communicator, and the CPU device in tests.
pub struct HostCollective<C: Collective> {
    comm: C,
    host: Vec<f32>,
    out: Vec<f32>,
}

impl<C: Collective> HostCollective<C> {
    pub fn new(comm: C) -> Self {
        HostCollective { comm, host: Vec::new(), out: Vec::new() }
    }
}

impl<C: Collective, D: Device> DeviceCollective<D> for HostCollective<C> {
    fn rank(&self) -> usize {
        self.comm.rank()
    }

    fn size(&self) -> usize {
        self.comm.size()
    }

    fn all_gather(&mut self, dev: &mut D, src: Ptr, dst: Ptr, len: usize) -> Result<()> {
        self.host.resize(len, 0.0);
        self.out.resize(len * self.comm.size(), 0.0);
        dev.download(src, &mut self.host)?;
        self.comm.all_gather(&self.host, &mut self.out)?;
        Ok(dev.upload(dst, &self.out)?)
    }

    fn all_reduce_sum(&mut self, dev: &mut D, buf: Ptr, len: usize) -> Result<()> {
        self.host.resize(len, 0.0);
        dev.download(buf, &mut self.host)?;
        self.comm.all_reduce_sum(&mut self.host)?;
        Ok(dev.upload(buf, &self.host)?)
    }

    fn capturable(&self) -> bool {
        false
    }
}

/// NCCL on a CUDA device, on the step's stream: the exchanges are captured in the step's graph.
#[cfg(feature = "nccl")]
pub struct NcclCollective(pub kernels::nccl::Nccl);

#[cfg(feature = "nccl")]
impl DeviceCollective<kernels::cuda::CudaDevice> for NcclCollective {
    fn rank(&self) -> usize {
        self.0.rank()
    }

    fn size(&self) -> usize {
        self.0.size()
    }

    fn all_gather(&mut self, dev: &mut kernels::cuda::CudaDevice, src: Ptr, dst: Ptr, len: usize) -> Result<()> {
        Ok(dev.nccl_all_gather(&self.0, src, dst, len)?)
    }

    fn all_reduce_sum(&mut self, dev: &mut kernels::cuda::CudaDevice, buf: Ptr, len: usize) -> Result<()> {
        Ok(dev.nccl_all_reduce_sum(&self.0, buf, len)?)
    }

    fn capturable(&self) -> bool {
        true
    }
}

/// The refusal of a graph over host collectives.
pub(crate) fn not_capturable() -> ModelError {
    ModelError::Config(
        "this device step's collectives go through host memory and cannot be captured in a graph: run it eager \
         (--gpu-eager)"
            .into(),
    )
}
