//! The kernels of `kernels/cuda`, executed on the CPU by the fiber shim (feature `cpu-sim`).
//!
//! Each function checks its buffers against the shape, launches with the geometry the GPU uses
//! ([`crate::geometry`]) and reports a shim failure (a bad launch, a barrier only some threads
//! reach) as an error naming the kernel.

use std::ffi::{c_char, c_int, CStr};

use crate::geometry::{self, Launch};
use crate::{KernelError, Result};

mod ffi {
    use std::ffi::{c_char, c_int, c_longlong, c_uint};

    extern "C" {
        pub fn deepcrl_cpu_last_error() -> *const c_char;
        pub fn deepcrl_cpu_ln_silu_forward(
            grid: c_uint,
            block: c_uint,
            z: *mut f32,
            bias: *const f32,
            gamma: *const f32,
            beta: *const f32,
            rstd: *mut f32,
            act: *mut f32,
            rows: c_int,
            width: c_int,
        ) -> c_int;
        pub fn deepcrl_cpu_ln_silu_backward(
            grid: c_uint,
            block: c_uint,
            d: *mut f32,
            nhat: *const f32,
            rstd: *const f32,
            gamma: *const f32,
            beta: *const f32,
            partial: *mut f32,
            rows: c_int,
            width: c_int,
            rows_per_block: c_int,
        ) -> c_int;
        pub fn deepcrl_cpu_sum_partials(
            grid: c_uint,
            block: c_uint,
            partial: *const f32,
            out: *mut f32,
            blocks: c_int,
            n: c_int,
        ) -> c_int;
        pub fn deepcrl_cpu_adam_tick(grid: c_uint, block: c_uint, state: *mut f32, beta1: f32, beta2: f32) -> c_int;
        pub fn deepcrl_cpu_adam_step(
            grid: c_uint,
            block: c_uint,
            params: *mut f32,
            grads: *const f32,
            m: *mut f32,
            v: *mut f32,
            state: *const f32,
            n: c_longlong,
            lr: f32,
            beta1: f32,
            beta2: f32,
            eps: f32,
        ) -> c_int;
        pub fn deepcrl_cpu_selftest_mirror(grid: c_uint, block: c_uint, out: *mut c_int) -> c_int;
        pub fn deepcrl_cpu_selftest_diverge(block: c_uint, out: *mut c_int) -> c_int;
    }
}

/// The shim's return code as a result.
fn check(kernel: &'static str, rc: c_int) -> Result<()> {
    if rc == 0 {
        return Ok(());
    }
    // SAFETY: the shim returns a pointer to its thread-local, NUL-terminated error string, valid
    // until the next launch on this thread; it is copied out at once.
    let msg = unsafe { CStr::from_ptr(ffi::deepcrl_cpu_last_error() as *const c_char) }.to_string_lossy().into_owned();
    Err(KernelError::Launch { kernel, msg })
}

/// `need` values at least, or a shape error naming the buffer.
fn fits(kernel: &'static str, name: &str, len: usize, need: usize) -> Result<()> {
    if len < need {
        return Err(KernelError::Shape { kernel, msg: format!("{name} holds {len} values, needs {need}") });
    }
    Ok(())
}

fn int(kernel: &'static str, name: &str, v: usize) -> Result<c_int> {
    c_int::try_from(v).map_err(|_| KernelError::Shape { kernel, msg: format!("{name} = {v} does not fit a C int") })
}

/// Bias + LayerNorm + SiLU forward over `rows` rows of `width`: `z` becomes n̂, `rstd` and `act`
/// are written (the arithmetic of `models::fast::norm_act::forward`).
#[allow(clippy::too_many_arguments)] // the kernel's own argument list
pub fn ln_silu_forward(
    z: &mut [f32],
    bias: &[f32],
    gamma: &[f32],
    beta: &[f32],
    rstd: &mut [f32],
    act: &mut [f32],
    rows: usize,
    width: usize,
) -> Result<()> {
    const K: &str = "ln_silu_forward";
    let Launch { grid, block } = geometry::ln_forward(rows, width)?;
    let n = rows * width;
    for (name, len, need) in [
        ("z", z.len(), n),
        ("act", act.len(), n),
        ("rstd", rstd.len(), rows),
        ("bias", bias.len(), width),
        ("gamma", gamma.len(), width),
        ("beta", beta.len(), width),
    ] {
        fits(K, name, len, need)?;
    }
    let (r, w) = (int(K, "rows", rows)?, int(K, "width", width)?);
    // SAFETY: every buffer was checked above to hold what the kernel reads or writes for this
    // shape; the mutable ones are distinct `&mut` borrows, so nothing aliases.
    let rc = unsafe {
        ffi::deepcrl_cpu_ln_silu_forward(
            grid,
            block,
            z.as_mut_ptr(),
            bias.as_ptr(),
            gamma.as_ptr(),
            beta.as_ptr(),
            rstd.as_mut_ptr(),
            act.as_mut_ptr(),
            r,
            w,
        )
    };
    check(K, rc)
}

/// Backward of [`ln_silu_forward`]: `d` holds ∂L/∂a on entry and ∂L/∂z on return. With `grads`
/// (`[3·width]`: γ, β, bias), also writes the parameter gradients summed over rows, through the
/// per-block partial sums in `partial` (grown as needed) and `sum_partials`.
#[allow(clippy::too_many_arguments)] // the kernel's own argument list
pub fn ln_silu_backward(
    d: &mut [f32],
    nhat: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    beta: &[f32],
    grads: Option<(&mut [f32], &mut Vec<f32>)>,
    rows: usize,
    width: usize,
) -> Result<()> {
    const K: &str = "ln_silu_backward";
    let Launch { grid, block } = geometry::ln_backward(rows, width)?;
    let n = rows * width;
    for (name, len, need) in [
        ("d", d.len(), n),
        ("nhat", nhat.len(), n),
        ("rstd", rstd.len(), rows),
        ("gamma", gamma.len(), width),
        ("beta", beta.len(), width),
    ] {
        fits(K, name, len, need)?;
    }
    let (r, w) = (int(K, "rows", rows)?, int(K, "width", width)?);
    let rpb = geometry::BACKWARD_ROWS_PER_BLOCK as c_int;
    let sums = 3 * width;
    let mut grads = grads;
    let partial_ptr = match &mut grads {
        Some((out, partial)) => {
            fits(K, "grads", out.len(), sums)?;
            let need = grid as usize * sums;
            if partial.len() < need {
                partial.resize(need, 0.0);
            }
            partial.as_mut_ptr()
        }
        None => std::ptr::null_mut(),
    };
    // SAFETY: the buffers were checked above for this shape, `partial` (when given) holds one
    // `[3·width]` row per block, and the mutable buffers are distinct borrows.
    let rc = unsafe {
        ffi::deepcrl_cpu_ln_silu_backward(
            grid,
            block,
            d.as_mut_ptr(),
            nhat.as_ptr(),
            rstd.as_ptr(),
            gamma.as_ptr(),
            beta.as_ptr(),
            partial_ptr,
            r,
            w,
            rpb,
        )
    };
    check(K, rc)?;
    if let Some((out, partial)) = grads {
        sum_partials(&partial[..grid as usize * sums], out, grid as usize, sums)?;
    }
    Ok(())
}

/// `out[i] = Σ_b partial[b·n + i]` for `i < n`, over `blocks` partial rows in order.
pub fn sum_partials(partial: &[f32], out: &mut [f32], blocks: usize, n: usize) -> Result<()> {
    const K: &str = "sum_partials";
    let Launch { grid, block } = geometry::elementwise(K, n)?;
    fits(K, "partial", partial.len(), blocks * n)?;
    fits(K, "out", out.len(), n)?;
    let (b, n) = (int(K, "blocks", blocks)?, int(K, "n", n)?);
    // SAFETY: `partial` holds `blocks × n` values and `out` n, checked above.
    check(K, unsafe { ffi::deepcrl_cpu_sum_partials(grid, block, partial.as_ptr(), out.as_mut_ptr(), b, n) })
}

/// Advances Adam's device-side step count and bias corrections: `state = [t, 1/(1−β1ᵗ), 1/(1−β2ᵗ)]`.
pub fn adam_tick(state: &mut [f32; 3], beta1: f32, beta2: f32) -> Result<()> {
    // SAFETY: the kernel's one thread reads and writes the three values of `state`.
    check("adam_tick", unsafe { ffi::deepcrl_cpu_adam_tick(1, 1, state.as_mut_ptr(), beta1, beta2) })
}

/// One Adam step over the flat buffers with the corrections in `state` (see [`adam_tick`]).
#[allow(clippy::too_many_arguments)] // the kernel's own argument list
pub fn adam_step(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    state: &[f32; 3],
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
) -> Result<()> {
    const K: &str = "adam_step";
    let n = params.len();
    for (name, len) in [("grads", grads.len()), ("m", m.len()), ("v", v.len())] {
        if len != n {
            return Err(KernelError::Shape { kernel: K, msg: format!("{name} holds {len} values, params {n}") });
        }
    }
    let Launch { grid, block } = geometry::elementwise(K, n)?;
    // SAFETY: the four flat buffers hold n values each (checked above) and `state` three.
    let rc = unsafe {
        ffi::deepcrl_cpu_adam_step(
            grid,
            block,
            params.as_mut_ptr(),
            grads.as_ptr(),
            m.as_mut_ptr(),
            v.as_mut_ptr(),
            state.as_ptr(),
            n as i64,
            lr,
            beta1,
            beta2,
            eps,
        )
    };
    check(K, rc)
}

/// The shim's own checks, for its tests: [`mirror`](self::selftest::mirror) and
/// [`diverge`](self::selftest::diverge).
pub mod selftest {
    use super::*;

    /// Runs the mirror kernel (`out[b·n + t] = b·10000 + t + 1` when barriers work).
    pub fn mirror(grid: u32, block: u32) -> Result<Vec<i32>> {
        let mut out = vec![0; (grid * block) as usize];
        // SAFETY: `out` holds grid × block values, one per thread.
        check("selftest_mirror", unsafe { ffi::deepcrl_cpu_selftest_mirror(grid, block, out.as_mut_ptr()) })?;
        Ok(out)
    }

    /// Runs a kernel whose thread 0 skips a barrier the others wait at: must be an error.
    pub fn diverge(block: u32) -> Result<()> {
        let mut out = vec![0; block as usize];
        // SAFETY: `out` holds one value per thread of the single block.
        check("selftest_diverge", unsafe { ffi::deepcrl_cpu_selftest_diverge(block, out.as_mut_ptr()) })
    }
}
