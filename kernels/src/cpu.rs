//! [`CpuDevice`]: the [`Device`] interface on the CPU (feature `cpu-sim`). Kernels are the very
//! `.cu` text the GPU runs, compiled as C++ with the fiber shim (`kernels/cpu`) and launched by name
//! with the same geometry and argument list; products run on the `gemm` crate; a capture records
//! the enqueued work and a replay runs it again, refusing inside a capture what a CUDA stream
//! capture refuses (allocation and host copies).

use std::ffi::{c_char, c_int, c_uint, CStr, CString};

use crate::device::{Arg, Buf, Device, Gemm, Graph, Ptr};
use crate::geometry::Launch;
use crate::source::KERNELS;
use crate::{KernelError, Result};

/// One argument across the C boundary (`DeepcrlArg` in `kernels/cpu/launch.cpp`).
#[repr(C)]
#[derive(Clone, Copy)]
struct CArg {
    kind: i32,
    pad: i32,
    bits: u64,
}

extern "C" {
    fn deepcrl_cpu_last_error() -> *const c_char;
    fn deepcrl_cpu_launch(name: *const c_char, grid: c_uint, block: c_uint, args: *const CArg, nargs: c_int) -> c_int;
    fn deepcrl_cpu_selftest_mirror(grid: c_uint, block: c_uint, out: *mut c_int) -> c_int;
    fn deepcrl_cpu_selftest_diverge(block: c_uint, out: *mut c_int) -> c_int;
}

/// The shim's return code as a result.
fn check(kernel: &'static str, rc: c_int) -> Result<()> {
    if rc == 0 {
        return Ok(());
    }
    // SAFETY: the shim returns a pointer to its thread-local, NUL-terminated error string, valid
    // until the next launch on this thread; it is copied out at once.
    let msg = unsafe { CStr::from_ptr(deepcrl_cpu_last_error()) }.to_string_lossy().into_owned();
    Err(KernelError::Launch { kernel, msg })
}

/// Work a capture recorded.
#[derive(Clone, Debug)]
enum Op {
    Launch { name: &'static str, launch: Launch, args: Vec<Arg> },
    Gemm(Gemm),
    Copy { src: Ptr, dst: Ptr, len: usize },
}

/// The CPU device. Single-threaded and synchronous: every call has finished when it returns.
#[derive(Default)]
pub struct CpuDevice {
    bufs: Vec<Vec<f32>>,
    graphs: Vec<Vec<Op>>,
    capturing: Option<Vec<Op>>,
    launches: u64,
}

impl CpuDevice {
    pub fn new() -> Self {
        CpuDevice::default()
    }

    fn slice(&self, p: Ptr, n: usize) -> Result<&[f32]> {
        let b = self.buf(p.buf)?;
        b.get(p.off..p.off + n).ok_or_else(|| out_of_range(p, n, b.len()))
    }

    fn buf(&self, b: Buf) -> Result<&Vec<f32>> {
        self.bufs.get(b.0 as usize).ok_or_else(|| KernelError::Device(format!("no buffer {}", b.0)))
    }

    /// A raw pointer to `p` (checked to lie inside its buffer; the kernel's extent was checked by
    /// `ops` before the launch).
    fn raw(&mut self, p: Ptr) -> Result<u64> {
        let b =
            self.bufs.get_mut(p.buf.0 as usize).ok_or_else(|| KernelError::Device(format!("no buffer {}", p.buf.0)))?;
        if p.off > b.len() {
            return Err(out_of_range(p, 0, b.len()));
        }
        // SAFETY: `p.off <= len`, so the pointer is within the allocation or one past its end.
        Ok(unsafe { b.as_mut_ptr().add(p.off) } as u64)
    }

    fn refuse_in_capture(&self, what: &str) -> Result<()> {
        if self.capturing.is_some() {
            return Err(KernelError::Capture(format!("{what} is not allowed while capturing a graph")));
        }
        Ok(())
    }

    fn execute(&mut self, op: &Op) -> Result<()> {
        match op {
            Op::Launch { name, launch, args } => self.run_kernel(name, *launch, args),
            Op::Gemm(g) => self.run_gemm(g),
            Op::Copy { src, dst, len } => {
                let v = self.slice(*src, *len)?.to_vec();
                self.write(*dst, &v)
            }
        }
    }

    fn write(&mut self, dst: Ptr, src: &[f32]) -> Result<()> {
        let b = self
            .bufs
            .get_mut(dst.buf.0 as usize)
            .ok_or_else(|| KernelError::Device(format!("no buffer {}", dst.buf.0)))?;
        let len = b.len();
        let d = b.get_mut(dst.off..dst.off + src.len()).ok_or_else(|| out_of_range(dst, src.len(), len))?;
        d.copy_from_slice(src);
        Ok(())
    }

    fn run_kernel(&mut self, name: &'static str, launch: Launch, args: &[Arg]) -> Result<()> {
        if !KERNELS.contains(&name) {
            return Err(KernelError::Launch { kernel: name, msg: "not a kernel of kernels/cuda".into() });
        }
        let mut c = Vec::with_capacity(args.len());
        for a in args {
            let (kind, bits) = match *a {
                Arg::Ptr(p) => (0, self.raw(p)?),
                Arg::Null => (1, 0),
                Arg::I32(v) => (2, v as i64 as u64),
                Arg::I64(v) => (3, v as u64),
                Arg::F32(v) => (4, v.to_bits() as u64),
            };
            c.push(CArg { kind, pad: 0, bits });
        }
        let cname = CString::new(name).map_err(|_| KernelError::Launch { kernel: name, msg: "bad name".into() })?;
        self.launches += 1;
        // SAFETY: every pointer argument points into a live buffer of this device, and `ops`
        // checked the extent each kernel touches before building the launch; the C side checks the
        // argument count and kinds against the kernel's parameter list before running it.
        let rc = unsafe { deepcrl_cpu_launch(cname.as_ptr(), launch.grid, launch.block, c.as_ptr(), c.len() as c_int) };
        check(name, rc)
    }

    fn run_gemm(&mut self, g: &Gemm) -> Result<()> {
        let (sa, sb, sc) = g.spans();
        for (what, p, n) in [("A", g.a, sa), ("B", g.b, sb), ("C", g.c, sc)] {
            let len = self.buf(p.buf)?.len();
            if p.off + n > len {
                return Err(KernelError::Shape { kernel: "gemm", msg: format!("{what}: {}", out_of_range(p, n, len)) });
            }
        }
        let (a, b, c) = (self.raw(g.a)?, self.raw(g.b)?, self.raw(g.c)?);
        // Row-major operands as gemm's (column stride, row stride) pairs; a transposed operand
        // swaps them.
        let strides = |ld: usize, trans: bool| if trans { (ld as isize, 1) } else { (1, ld as isize) };
        let (a_cs, a_rs) = strides(g.lda, g.trans_a);
        let (b_cs, b_rs) = strides(g.ldb, g.trans_b);
        self.launches += 1;
        // SAFETY: the three extents were checked against their buffers above and `ops` refuses an
        // output overlapping an input; gemm reads and writes only within them. gemm computes
        // dst = alpha·dst + beta·lhs·rhs, hence the swapped scale arguments.
        unsafe {
            gemm::gemm(
                g.m,
                g.n,
                g.k,
                c as *mut f32,
                1,
                g.ldc as isize,
                g.beta != 0.0,
                a as *const f32,
                a_cs,
                a_rs,
                b as *const f32,
                b_cs,
                b_rs,
                g.beta,
                g.alpha,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        };
        Ok(())
    }

    /// Records or runs `op`.
    fn enqueue(&mut self, op: Op) -> Result<()> {
        if let Some(rec) = self.capturing.as_mut() {
            rec.push(op);
            return Ok(());
        }
        self.execute(&op)
    }
}

fn out_of_range(p: Ptr, n: usize, len: usize) -> KernelError {
    KernelError::Device(format!("{n} values at offset {} of buffer {} overrun its {len} values", p.off, p.buf.0))
}

impl Device for CpuDevice {
    fn describe(&self) -> String {
        "CPU (the CUDA kernels' own source on the fiber shim)".into()
    }

    fn alloc(&mut self, len: usize) -> Result<Buf> {
        self.refuse_in_capture("allocating")?;
        let id = u32::try_from(self.bufs.len()).map_err(|_| KernelError::Device("too many buffers".into()))?;
        self.bufs.push(vec![0.0; len]);
        Ok(Buf(id))
    }

    fn len(&self, buf: Buf) -> Result<usize> {
        Ok(self.buf(buf)?.len())
    }

    fn upload(&mut self, dst: Ptr, src: &[f32]) -> Result<()> {
        self.refuse_in_capture("a host-to-device copy")?;
        self.write(dst, src)
    }

    fn download(&mut self, src: Ptr, dst: &mut [f32]) -> Result<()> {
        self.refuse_in_capture("a device-to-host copy")?;
        dst.copy_from_slice(self.slice(src, dst.len())?);
        Ok(())
    }

    fn copy(&mut self, src: Ptr, dst: Ptr, len: usize) -> Result<()> {
        self.enqueue(Op::Copy { src, dst, len })
    }

    fn launch(&mut self, name: &'static str, launch: Launch, args: &[Arg]) -> Result<()> {
        self.enqueue(Op::Launch { name, launch, args: args.to_vec() })
    }

    fn gemm(&mut self, g: &Gemm) -> Result<()> {
        self.enqueue(Op::Gemm(*g))
    }

    fn begin_capture(&mut self) -> Result<()> {
        self.refuse_in_capture("beginning a capture")?;
        self.capturing = Some(Vec::new());
        Ok(())
    }

    fn end_capture(&mut self) -> Result<Graph> {
        let ops = self.capturing.take().ok_or_else(|| KernelError::Capture("no capture to end".into()))?;
        self.graphs.push(ops);
        Ok(Graph(self.graphs.len() as u32 - 1))
    }

    fn replay(&mut self, graph: Graph) -> Result<()> {
        self.refuse_in_capture("replaying a graph")?;
        let ops = self
            .graphs
            .get(graph.0 as usize)
            .cloned()
            .ok_or_else(|| KernelError::Capture(format!("no graph {}", graph.0)))?;
        ops.iter().try_for_each(|op| self.execute(op))
    }

    fn synchronize(&mut self) -> Result<()> {
        Ok(())
    }

    fn launches(&self) -> u64 {
        self.launches
    }
}

/// The shim's own checks, for its tests.
pub mod selftest {
    use super::*;

    /// Runs the mirror kernel (`out[b·n + t] = b·10000 + t + 1` when barriers work).
    pub fn mirror(grid: u32, block: u32) -> Result<Vec<i32>> {
        let mut out = vec![0; (grid * block) as usize];
        // SAFETY: `out` holds grid × block values, one per thread.
        check("selftest_mirror", unsafe { deepcrl_cpu_selftest_mirror(grid, block, out.as_mut_ptr()) })?;
        Ok(out)
    }

    /// Runs a kernel whose thread 0 skips a barrier the others wait at: must be an error.
    pub fn diverge(block: u32) -> Result<()> {
        let mut out = vec![0; block as usize];
        // SAFETY: `out` holds one value per thread of the single block.
        check("selftest_diverge", unsafe { deepcrl_cpu_selftest_diverge(block, out.as_mut_ptr()) })
    }
}
