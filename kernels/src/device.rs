//! The small device interface the GPU update step is written against (issue 16, item 3c): buffers,
//! copies, kernel launches by name, row-major products and graph capture. The CUDA device
//! implements it with cudarc (feature `cuda`); [`crate::cpu::CpuDevice`] implements it on the CPU
//! with the same kernel text, so the whole step's orchestration (launch geometry, buffer sizes,
//! argument order, what is captured) is tested without a GPU.
//!
//! Device memory is addressed as [`Ptr`]: a buffer and an offset in `f32` values, a device pointer
//! that still knows its buffer, so [`crate::ops`] can check every range a kernel touches before
//! it launches, on either device.

use crate::geometry::Launch;
use crate::{KernelError, Result};

/// A buffer of `f32` on a device, as the device handed it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Buf(pub u32);

/// A position in a buffer, in `f32` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ptr {
    pub buf: Buf,
    pub off: usize,
}

impl Buf {
    pub fn at(self, off: usize) -> Ptr {
        Ptr { buf: self, off }
    }
}

impl From<Buf> for Ptr {
    fn from(buf: Buf) -> Ptr {
        buf.at(0)
    }
}

impl Ptr {
    /// `n` values further on.
    pub fn offset(self, n: usize) -> Ptr {
        Ptr { off: self.off + n, ..self }
    }
}

/// A kernel argument, in the order the kernel declares them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arg {
    Ptr(Ptr),
    /// A null pointer (an optional output the kernel skips).
    Null,
    I32(i32),
    I64(i64),
    F32(f32),
}

/// `C[m, n] = α·op(A)·op(B) + β·C`, all row-major: `op(A)` is `[m, k]` (stored `[k, m]` when
/// `trans_a`), `op(B)` is `[k, n]` (stored `[n, k]` when `trans_b`); `ld*` are row strides.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gemm {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: Ptr,
    pub lda: usize,
    pub trans_a: bool,
    pub b: Ptr,
    pub ldb: usize,
    pub trans_b: bool,
    pub c: Ptr,
    pub ldc: usize,
    pub alpha: f32,
    pub beta: f32,
}

impl Gemm {
    /// The number of values each operand spans from its pointer: (A, B, C).
    pub fn spans(&self) -> (usize, usize, usize) {
        let span = |rows: usize, cols: usize, ld: usize| if rows == 0 { 0 } else { (rows - 1) * ld + cols };
        let (ar, ac) = if self.trans_a { (self.k, self.m) } else { (self.m, self.k) };
        let (br, bc) = if self.trans_b { (self.n, self.k) } else { (self.k, self.n) };
        (span(ar, ac, self.lda), span(br, bc, self.ldb), span(self.m, self.n, self.ldc))
    }
}

/// A captured graph, replayed by [`Device::replay`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Graph(pub u32);

/// What a device can do. Every method that enqueues work (`copy`, `launch`, `gemm`) may
/// be recorded between `begin_capture` and `end_capture`; the ones that move data to or from the
/// host or allocate may not (as in a CUDA stream capture).
pub trait Device {
    /// The device in words, for logs and errors.
    fn describe(&self) -> String;
    /// A new zeroed buffer of `len` values.
    fn alloc(&mut self, len: usize) -> Result<Buf>;
    /// The length of `buf` in values.
    fn len(&self, buf: Buf) -> Result<usize>;
    fn upload(&mut self, dst: Ptr, src: &[f32]) -> Result<()>;
    /// Waits for the queued work, then copies `dst.len()` values out.
    fn download(&mut self, src: Ptr, dst: &mut [f32]) -> Result<()>;
    /// Device-to-device copy of `len` values (the ranges must not overlap).
    fn copy(&mut self, src: Ptr, dst: Ptr, len: usize) -> Result<()>;
    /// Launches the kernel `name` of [`crate::source::KERNELS`] with `args` in declaration order.
    fn launch(&mut self, name: &'static str, launch: Launch, args: &[Arg]) -> Result<()>;
    fn gemm(&mut self, g: &Gemm) -> Result<()>;
    fn begin_capture(&mut self) -> Result<()>;
    fn end_capture(&mut self) -> Result<Graph>;
    fn replay(&mut self, graph: Graph) -> Result<()>;
    /// Waits for all queued work.
    fn synchronize(&mut self) -> Result<()>;
    /// Kernel launches and products enqueued so far, replays included (each replayed node counts).
    fn launches(&self) -> u64;
    /// Bytes of device memory in use, where the device can tell.
    fn memory_used(&self) -> Option<usize> {
        None
    }
}

/// A boxed device is a device, so code can pick one at run time (`Box<dyn Device>`).
impl<D: Device + ?Sized> Device for Box<D> {
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn alloc(&mut self, len: usize) -> Result<Buf> {
        (**self).alloc(len)
    }
    fn len(&self, buf: Buf) -> Result<usize> {
        (**self).len(buf)
    }
    fn upload(&mut self, dst: Ptr, src: &[f32]) -> Result<()> {
        (**self).upload(dst, src)
    }
    fn download(&mut self, src: Ptr, dst: &mut [f32]) -> Result<()> {
        (**self).download(src, dst)
    }
    fn copy(&mut self, src: Ptr, dst: Ptr, len: usize) -> Result<()> {
        (**self).copy(src, dst, len)
    }
    fn launch(&mut self, name: &'static str, launch: Launch, args: &[Arg]) -> Result<()> {
        (**self).launch(name, launch, args)
    }
    fn gemm(&mut self, g: &Gemm) -> Result<()> {
        (**self).gemm(g)
    }
    fn begin_capture(&mut self) -> Result<()> {
        (**self).begin_capture()
    }
    fn end_capture(&mut self) -> Result<Graph> {
        (**self).end_capture()
    }
    fn replay(&mut self, graph: Graph) -> Result<()> {
        (**self).replay(graph)
    }
    fn synchronize(&mut self) -> Result<()> {
        (**self).synchronize()
    }
    fn launches(&self) -> u64 {
        (**self).launches()
    }
    fn memory_used(&self) -> Option<usize> {
        (**self).memory_used()
    }
}

/// Checks that `[p.off, p.off + n)` lies inside `p.buf`.
pub fn check_range(dev: &dyn Device, what: &str, kernel: &'static str, p: Ptr, n: usize) -> Result<()> {
    let len = dev.len(p.buf)?;
    if p.off.checked_add(n).is_none_or(|end| end > len) {
        return Err(KernelError::Shape {
            kernel,
            msg: format!("{what} needs {n} values from offset {} of a {len}-value buffer", p.off),
        });
    }
    Ok(())
}
