//! [`CudaDevice`]: the [`Device`] interface on an NVIDIA GPU through cudarc (feature `cuda`).
//!
//! One context, one stream, event tracking off (it would record events inside a capture). The
//! kernels are compiled once by NVRTC for the device's own architecture from
//! [`crate::source::program`] with [`crate::source::NVRTC_OPTIONS`], as the compile gate compiles
//! them; products are cuBLAS SGEMM (FP32, or TF32 tensor cores with [`Matmul::Tf32`]); a capture is
//! a CUDA stream capture, instantiated once and launched per replay.
//!
//! Nothing here has run on a GPU yet (docs/gpu.md); `scripts/gpu-acceptance.sh` is to check it.

use std::collections::HashMap;
use std::sync::Arc;

use cudarc::cublas::{result as blas, sys as blas_sys, CudaBlas};
use cudarc::driver::{
    sys, CudaContext, CudaFunction, CudaGraph, CudaSlice, CudaStream, DevicePtr, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileError, CompileOptions};

use crate::device::{Arg, Buf, Device, Gemm, Graph, Ptr};
use crate::geometry::Launch;
use crate::source::{program, KERNELS, NVRTC_OPTIONS};
use crate::{KernelError, Result};

/// How cuBLAS multiplies f32 matrices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matmul {
    /// Full FP32 (the default, for parity with the CPU path).
    Fp32,
    /// TF32 tensor cores: inputs rounded to a 10-bit mantissa, about 1e-3 relative error.
    Tf32,
}

fn driver(what: &str) -> impl Fn(cudarc::driver::DriverError) -> KernelError + '_ {
    move |e| KernelError::Device(format!("{what}: {e:?}"))
}

fn cublas(what: &str) -> impl Fn(cudarc::cublas::result::CublasError) -> KernelError + '_ {
    move |e| KernelError::Device(format!("{what}: {e:?}"))
}

/// Runs `f`, turning cudarc's panic on a library it cannot load (the driver's libcuda.so.1, or
/// the toolkit's libnvrtc / libcublas when loaded at run time) into an error that says what to do.
pub(crate) fn loading<T>(library: &str, f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T> {
    // cudarc reports a missing library by panicking; keep its message for ours, not on stderr.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(f);
    std::panic::set_hook(hook);
    result.map_err(|payload| {
        let why = payload
            .downcast_ref::<String>()
            .map(|m| m.split(" - ").next().unwrap_or(m).to_string())
            .unwrap_or_else(|| "a CUDA library is missing".into());
        KernelError::Device(format!(
            "{library} could not be loaded ({why}): on a GPU machine install the NVIDIA driver, and put the CUDA 13 \
             libraries (scripts/cuda-toolchain.sh's $CUDA_HOME/lib) on LD_LIBRARY_PATH; or train with --device cpu"
        ))
    })
}

/// A GPU with the kernels loaded.
pub struct CudaDevice {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    functions: HashMap<&'static str, CudaFunction>,
    bufs: Vec<(CudaSlice<f32>, u64)>,
    graphs: Vec<(CudaGraph, u64)>,
    /// Launches recorded by the capture in progress, counted into its graph.
    capturing: Option<u64>,
    launches: u64,
    name: String,
}

impl CudaDevice {
    /// Opens GPU `ordinal`, compiles the kernels for it and sets up cuBLAS.
    pub fn new(ordinal: usize, matmul: Matmul) -> Result<Self> {
        let count = loading("the NVIDIA driver (libcuda.so.1)", CudaContext::device_count)?
            .map_err(driver("counting CUDA devices (is the NVIDIA driver installed?)"))?;
        if ordinal >= count.max(0) as usize {
            return Err(KernelError::Device(format!(
                "cuda:{ordinal}: this machine has {count} CUDA device(s); pass --device cuda:N with N below {count}"
            )));
        }
        let ctx = CudaContext::new(ordinal).map_err(driver("opening the CUDA context"))?;
        // SAFETY: called before any allocation or stream work on this context, as cudarc requires;
        // this device orders all its work on one stream, so the events are not needed.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream().map_err(driver("creating a stream"))?;
        let (major, minor) = ctx.compute_capability().map_err(driver("reading the compute capability"))?;
        let name = format!("{} (sm_{major}{minor})", ctx.name().unwrap_or_else(|_| "CUDA device".into()));
        // NVRTC wants a 'static architecture name; one per process and device kind.
        let arch: &'static str = Box::leak(format!("compute_{major}{minor}").into_boxed_str());
        let opts = CompileOptions {
            arch: Some(arch),
            options: NVRTC_OPTIONS.iter().map(|o| o.to_string()).collect(),
            name: Some("kernels.cu".into()),
            ..CompileOptions::default()
        };
        let ptx =
            loading("NVRTC (libnvrtc.so.13)", || compile_ptx_with_opts(program(), opts))?.map_err(|e| match e {
                CompileError::CompileError { log, .. } => KernelError::Device(format!(
                    "NVRTC could not compile the kernels for {arch}:\n{}",
                    log.to_string_lossy()
                )),
                other => KernelError::Device(format!("NVRTC for {arch}: {other}")),
            })?;
        let module = ctx.load_module(ptx).map_err(driver("loading the kernels' PTX"))?;
        let mut functions = HashMap::new();
        for k in KERNELS {
            functions.insert(
                k,
                module.load_function(k).map_err(|e| KernelError::Launch { kernel: k, msg: format!("{e:?}") })?,
            );
        }
        let for_blas = stream.clone();
        let blas = loading("cuBLAS (libcublas.so.13)", move || CudaBlas::new(for_blas))?
            .map_err(cublas("creating the cuBLAS handle"))?;
        let mode = match matmul {
            Matmul::Fp32 => blas_sys::cublasMath_t::CUBLAS_DEFAULT_MATH,
            Matmul::Tf32 => blas_sys::cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH,
        };
        // SAFETY: the handle is live (owned by `blas`) and the mode is a valid enum value.
        unsafe { blas_sys::cublasSetMathMode(*blas.handle(), mode) }
            .result()
            .map_err(cublas("setting the cuBLAS math mode"))?;
        Ok(CudaDevice {
            ctx,
            stream,
            blas,
            functions,
            bufs: Vec::new(),
            graphs: Vec::new(),
            capturing: None,
            launches: 0,
            name,
        })
    }

    /// The raw device address of `p`, checked to lie inside its buffer.
    pub(crate) fn addr(&self, p: Ptr) -> Result<u64> {
        let (slice, base) =
            self.bufs.get(p.buf.0 as usize).ok_or_else(|| KernelError::Device(format!("no buffer {}", p.buf.0)))?;
        if p.off > slice.len() {
            return Err(KernelError::Device(format!(
                "offset {} past the end of buffer {} ({} values)",
                p.off,
                p.buf.0,
                slice.len()
            )));
        }
        Ok(base + 4 * p.off as u64)
    }

    /// The device's one stream, for libraries that enqueue on it (NCCL).
    #[cfg(feature = "nccl")]
    pub(crate) fn stream_handle(&self) -> cudarc::driver::sys::CUstream {
        self.stream.cu_stream()
    }

    /// Makes this device's context current on the calling thread.
    #[cfg(feature = "nccl")]
    pub(crate) fn bind(&self) -> Result<()> {
        self.ctx.bind_to_thread().map_err(driver("binding the CUDA context"))
    }

    fn refuse_in_capture(&self, what: &str) -> Result<()> {
        if self.capturing.is_some() {
            return Err(KernelError::Capture(format!("{what} is not allowed while capturing a graph")));
        }
        Ok(())
    }

    fn count(&mut self) {
        self.launches += 1;
        if let Some(n) = self.capturing.as_mut() {
            *n += 1;
        }
    }
}

impl Device for CudaDevice {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn alloc(&mut self, len: usize) -> Result<Buf> {
        self.refuse_in_capture("allocating")?;
        let slice = self.stream.alloc_zeros::<f32>(len.max(1)).map_err(driver("allocating device memory"))?;
        // The guard would synchronise on drop; with event tracking off it does nothing.
        let base = slice.device_ptr(&self.stream).0;
        let id = u32::try_from(self.bufs.len()).map_err(|_| KernelError::Device("too many buffers".into()))?;
        self.bufs.push((slice, base));
        Ok(Buf(id))
    }

    fn len(&self, buf: Buf) -> Result<usize> {
        self.bufs
            .get(buf.0 as usize)
            .map(|(s, _)| s.len())
            .ok_or_else(|| KernelError::Device(format!("no buffer {}", buf.0)))
    }

    fn upload(&mut self, dst: Ptr, src: &[f32]) -> Result<()> {
        self.refuse_in_capture("a host-to-device copy")?;
        crate::device::check_range(self, "upload", "memcpy", dst, src.len())?;
        let at = self.addr(dst)?;
        // SAFETY: the destination range lies inside a live allocation (checked above); the copy is
        // synchronised before returning, so `src` outlives it.
        unsafe { cudarc::driver::result::memcpy_htod_async(at, src, self.stream.cu_stream()) }
            .map_err(driver("copying to the device"))?;
        self.stream.synchronize().map_err(driver("waiting for a copy to the device"))
    }

    fn download(&mut self, src: Ptr, dst: &mut [f32]) -> Result<()> {
        self.refuse_in_capture("a device-to-host copy")?;
        crate::device::check_range(self, "download", "memcpy", src, dst.len())?;
        let at = self.addr(src)?;
        // SAFETY: as for upload; `dst` is written by the copy and the stream is synchronised before
        // `dst` is used again.
        unsafe { cudarc::driver::result::memcpy_dtoh_async(dst, at, self.stream.cu_stream()) }
            .map_err(driver("copying from the device"))?;
        self.stream.synchronize().map_err(driver("waiting for a copy from the device"))
    }

    fn copy(&mut self, src: Ptr, dst: Ptr, len: usize) -> Result<()> {
        crate::device::check_range(self, "copy source", "memcpy", src, len)?;
        crate::device::check_range(self, "copy destination", "memcpy", dst, len)?;
        let (s, d) = (self.addr(src)?, self.addr(dst)?);
        self.count();
        // SAFETY: both ranges lie inside live allocations (checked above).
        unsafe { cudarc::driver::result::memcpy_dtod_async(d, s, 4 * len, self.stream.cu_stream()) }
            .map_err(driver("copying on the device"))
    }

    fn launch(&mut self, name: &'static str, launch: Launch, args: &[Arg]) -> Result<()> {
        // The argument values must stay at fixed addresses until the launch is enqueued.
        let mut ptrs = Vec::with_capacity(args.len());
        for a in args {
            ptrs.push(match a {
                Arg::Ptr(p) => self.addr(*p)?,
                _ => 0,
            });
        }
        let f = self
            .functions
            .get(name)
            .ok_or(KernelError::Launch { kernel: name, msg: "not a kernel of kernels/cuda".into() })?;
        let mut b = self.stream.launch_builder(f);
        for (a, p) in args.iter().zip(&ptrs) {
            match a {
                Arg::Ptr(_) | Arg::Null => b.arg(p),
                Arg::I32(v) => b.arg(v),
                Arg::I64(v) => b.arg(v),
                Arg::F32(v) => b.arg(v),
            };
        }
        let cfg = LaunchConfig { grid_dim: (launch.grid, 1, 1), block_dim: (launch.block, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: `ops` built `args` in the kernel's declaration order with the C types it
        // declares (i32 for int, i64 for long long, f32 for float, device addresses for pointers)
        // and checked every range the kernel touches against its buffer.
        unsafe { b.launch(cfg) }.map_err(|e| KernelError::Launch { kernel: name, msg: format!("{e:?}") })?;
        self.count();
        Ok(())
    }

    fn gemm(&mut self, g: &Gemm) -> Result<()> {
        // Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, and a row-major matrix
        // read column-major is its transpose: so B goes first, and each keeps its own flag.
        let op = |t: bool| {
            if t {
                blas_sys::cublasOperation_t::CUBLAS_OP_T
            } else {
                blas_sys::cublasOperation_t::CUBLAS_OP_N
            }
        };
        let int = |v: usize| {
            i32::try_from(v)
                .map_err(|_| KernelError::Shape { kernel: "gemm", msg: format!("{v} does not fit a C int") })
        };
        let (a, b, c) = (self.addr(g.a)?, self.addr(g.b)?, self.addr(g.c)?);
        let (alpha, beta) = (g.alpha, g.beta);
        self.count();
        // SAFETY: `ops` checked the three operands' extents against their buffers and that C
        // overlaps neither input; the scalars are host values read during the call.
        unsafe {
            blas::sgemm(
                *self.blas.handle(),
                op(g.trans_b),
                op(g.trans_a),
                int(g.n)?,
                int(g.m)?,
                int(g.k)?,
                &alpha,
                b as *const f32,
                int(g.ldb)?,
                a as *const f32,
                int(g.lda)?,
                &beta,
                c as *mut f32,
                int(g.ldc)?,
            )
        }
        .map_err(cublas("cuBLAS SGEMM"))
    }

    fn begin_capture(&mut self) -> Result<()> {
        self.refuse_in_capture("beginning a capture")?;
        self.stream
            .begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            .map_err(driver("beginning a stream capture"))?;
        self.capturing = Some(0);
        Ok(())
    }

    fn end_capture(&mut self) -> Result<Graph> {
        let nodes = self.capturing.take().ok_or_else(|| KernelError::Capture("no capture to end".into()))?;
        // Launches recorded during capture did not run.
        self.launches -= nodes;
        let graph = self
            .stream
            .end_capture(sys::CUgraphInstantiate_flags::CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH)
            .map_err(driver("ending the stream capture"))?
            .ok_or_else(|| KernelError::Capture("the capture recorded nothing".into()))?;
        graph.upload().map_err(driver("uploading the graph"))?;
        self.graphs.push((graph, nodes));
        Ok(Graph(self.graphs.len() as u32 - 1))
    }

    fn replay(&mut self, graph: Graph) -> Result<()> {
        self.refuse_in_capture("replaying a graph")?;
        let (g, nodes) =
            self.graphs.get(graph.0 as usize).ok_or_else(|| KernelError::Capture(format!("no graph {}", graph.0)))?;
        g.launch().map_err(driver("launching the graph"))?;
        self.launches += nodes;
        Ok(())
    }

    fn synchronize(&mut self) -> Result<()> {
        self.stream.synchronize().map_err(driver("synchronising the stream"))
    }

    fn launches(&self) -> u64 {
        self.launches
    }

    /// In use on the whole GPU (total minus free), which includes other processes' memory.
    fn memory_used(&self) -> Option<usize> {
        self.ctx.mem_get_info().ok().map(|(free, total)| total - free)
    }
}
