//! deepcrl `kernels`: the CUDA C kernels of the GPU training path (issue 16), in one place with
//! their launch geometry, so the CUDA device and the CPU execution of the same text agree.
//!
//! - [`source`]: the kernel files, the program text NVRTC compiles, and the kernels' names.
//! - [`geometry`]: grid and block sizes for each kernel, and the shapes they accept.
//! - [`device`]: the small interface the GPU step is written against (buffers, copies, launches by
//!   name, products, graph capture); [`ops`]: every kernel and product as a checked, typed call on it.
//! - [`cpu`] (feature `cpu-sim`, on by default): [`cpu::CpuDevice`], the device interface on the CPU,
//!   whose kernels are the very same `.cu` text compiled as C++ with a fiber shim (`kernels/cpu/shim.h`: CUDA threads as fibers, `__syncthreads` as a real barrier,
//!   shared memory per block) and run on the CPU, so every kernel is tested against the fused CPU
//!   path (`models::fast`) on machines without a GPU.
//!
//! - [`cuda`] (feature `cuda`): `cuda::CudaDevice`, the device interface on an NVIDIA GPU (cudarc:
//!   NVRTC, cuBLAS, stream capture).
//!
//! Why a C++ shim rather than OpenCL on pocl: the GPU's own `.cu` text runs unchanged (no second
//! dialect to keep in step), it needs only the C++ compiler every Rust machine has, and a barrier
//! that only some threads reach is reported instead of hanging.

pub mod device;
pub mod geometry;
pub mod ops;
pub mod source;

#[cfg(feature = "cpu-sim")]
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(feature = "nccl")]
pub mod nccl;

/// A kernel that could not run: which one and why.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("kernel {kernel}: {msg}")]
    Shape { kernel: &'static str, msg: String },
    #[error("kernel {kernel}: {msg}")]
    Launch { kernel: &'static str, msg: String },
    #[error("device: {0}")]
    Device(String),
    #[error("graph capture: {0}")]
    Capture(String),
}

pub type Result<T, E = KernelError> = std::result::Result<T, E>;
