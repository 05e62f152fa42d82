//! A hand-written AVX-512 f32 matmul for the three Linear products of [`super::matmul`].
//!
//! `gemm` 0.19 only has AVX2 kernels for f32, which caps it at half of a Zen 4/5 core's FMA peak.
//! This is a plain GotoBLAS-style loop nest with one register-blocked microkernel: an `MR × NR`
//! tile of C lives in 16 zmm accumulators while the kernel walks the contraction, broadcasting one
//! A value per row and loading two vectors of B per step.
//!
//! Each entry point returns `false` (and touches nothing) when AVX-512 is missing or the shape does
//! not fit the tiling; the caller then runs `gemm`. All products overwrite C.

use gemm::Parallelism;

/// Rows of C per microkernel tile.
pub const MR: usize = 8;
/// Columns of C per microkernel tile (two zmm vectors).
pub const NR: usize = 32;
/// Contraction block: a packed `KC × NR` panel of B is 32 KiB, so it stays in a 48 KiB L1 while
/// every row tile of A streams past it.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const KC: usize = 256;

/// Whether a product with `rows × cols` output and contraction `depth` fits the tiling. The
/// contraction must be a multiple of 16 because B panels of `x_wt` are packed by 16×16 transposes.
pub fn fits(rows: usize, cols: usize, depth: usize) -> bool {
    rows > 0 && cols > 0 && depth > 0 && rows.is_multiple_of(MR) && cols.is_multiple_of(NR) && depth.is_multiple_of(16)
}

/// Whether this CPU can run the kernel (and `DEEPCRL_MAX_ISA` does not cap it below AVX-512).
pub fn available() -> bool {
    super::isa::active() >= super::isa::Isa::Avx512
}

/// Where A's element `(i, l)` sits: `a[i·lda + l]` (rows) or `a[l·lda + i]` (columns, i.e. A is
/// stored transposed); and likewise B's `(l, j)`: `b[l·ldb + j]` or, transposed, `b[j·ldb + l]`.
#[derive(Clone, Copy)]
struct Layout {
    a_cols: bool,
    b_t: bool,
    lda: usize,
    ldb: usize,
}

/// `y[m, n] = x[m, k] · w[n, k]ᵀ` on AVX-512, or `false` if it cannot run here.
pub fn x_wt(m: usize, n: usize, k: usize, x: &[f32], w: &[f32], y: &mut [f32], par: Parallelism) -> bool {
    let lay = Layout { a_cols: false, b_t: true, lda: k, ldb: k };
    drive(m, n, k, x, w, y, lay, par)
}

/// `dx[m, k] = dy[m, n] · w[n, k]` on AVX-512, or `false` if it cannot run here.
pub fn dy_w(m: usize, n: usize, k: usize, dy: &[f32], w: &[f32], dx: &mut [f32], par: Parallelism) -> bool {
    let lay = Layout { a_cols: false, b_t: false, lda: n, ldb: k };
    drive(m, k, n, dy, w, dx, lay, par)
}

/// `dw[n, k] = dy[m, n]ᵀ · x[m, k]` on AVX-512, or `false` if it cannot run here.
pub fn dyt_x(m: usize, n: usize, k: usize, dy: &[f32], x: &[f32], dw: &mut [f32], par: Parallelism) -> bool {
    let lay = Layout { a_cols: true, b_t: false, lda: n, ldb: k };
    drive(n, k, m, dy, x, dw, lay, par)
}

/// `c[rows, cols] = A · B` (row-major C with stride `cols`), split over row tiles when asked for
/// more than one thread.
#[allow(clippy::too_many_arguments)]
fn drive(
    rows: usize,
    cols: usize,
    depth: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    lay: Layout,
    par: Parallelism,
) -> bool {
    if !(fits(rows, cols, depth) && available()) {
        return false;
    }
    // The last element each operand's layout reaches; checked once here so the kernels can index
    // with raw pointers.
    let a_need = if lay.a_cols { (depth - 1) * lay.lda + rows } else { (rows - 1) * lay.lda + depth };
    let b_need = if lay.b_t { (cols - 1) * lay.ldb + depth } else { (depth - 1) * lay.ldb + cols };
    assert!(a.len() >= a_need && b.len() >= b_need && c.len() >= rows * cols, "gemm512: buffer too small");
    let c = &mut c[..rows * cols];
    let threads = match par {
        Parallelism::None => 1,
        Parallelism::Rayon(0) => rayon::current_num_threads(),
        Parallelism::Rayon(t) => t,
    };
    let tiles = rows / MR;
    let parts = threads.clamp(1, tiles);
    if parts == 1 {
        // SAFETY: `available()` holds and the assert above bounds A, B and C for this shape.
        unsafe { block(rows, cols, depth, a, b, c, lay) };
        return true;
    }
    use rayon::prelude::*;
    let per = tiles.div_ceil(parts) * MR;
    c.par_chunks_mut(per * cols).enumerate().for_each(|(p, cp)| {
        let r0 = p * per;
        let a0 = if lay.a_cols { r0 } else { r0 * lay.lda };
        // SAFETY: the chunk holds whole rows r0.. of C (a multiple of MR of them); A's rows from
        // r0 on are bounded by the same assert, offset by the same amount.
        unsafe { block(cp.len() / cols, cols, depth, &a[a0..], b, cp, lay) };
    });
    true
}

/// One packed panel of B: `KC` rows of `NR` floats, 64-byte aligned for aligned zmm loads.
#[cfg(target_arch = "x86_64")]
#[repr(align(64))]
struct Panel([f32; KC * NR]);

/// The single-thread loop nest: contraction blocks, then NR-column panels of B (packed once and
/// kept in L1), then MR-row tiles of A read in place.
///
/// A is not packed: its tiles stream from L2 at a few bytes per cycle. Packing a transposed A
/// (`dyt_x`) into contiguous tiles was tried and measured slower at every width (195 against 249
/// GFLOP/s at 256³, 200 against 210 at width 1024).
///
/// # Safety
/// avx512f must be available, the shape must satisfy [`fits`], and `a`, `b`, `c` must be at least
/// as long as `drive` asserts for this shape and layout.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block(rows: usize, cols: usize, depth: usize, a: &[f32], b: &[f32], c: &mut [f32], lay: Layout) {
    let mut panel = Panel([0.0; KC * NR]);
    let (ap, bp, cp) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    let mut pc = 0;
    while pc < depth {
        let kc = KC.min(depth - pc);
        for jb in (0..cols).step_by(NR) {
            // SAFETY: for both calls, B rows pc..pc+kc × columns jb..jb+NR, and A rows ib..ib+MR ×
            // contraction pc..pc+kc, are inside the asserted extents because pc+kc <= depth,
            // jb+NR <= cols and ib+MR <= rows; the panel holds kc <= KC rows of NR.
            unsafe {
                if lay.b_t {
                    pack_t(kc, bp.add(jb * lay.ldb + pc), lay.ldb, &mut panel);
                } else {
                    pack(kc, bp.add(pc * lay.ldb + jb), lay.ldb, &mut panel);
                }
                for ib in (0..rows).step_by(MR) {
                    let ct = cp.add(ib * cols + jb);
                    if lay.a_cols {
                        kernel::<true>(kc, ap.add(pc * lay.lda + ib), lay.lda, &panel, ct, cols, pc > 0);
                    } else {
                        kernel::<false>(kc, ap.add(ib * lay.lda + pc), lay.lda, &panel, ct, cols, pc > 0);
                    }
                }
            }
        }
        pc += kc;
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn block(_: usize, _: usize, _: usize, _: &[f32], _: &[f32], _: &mut [f32], _: Layout) {
    unreachable!("gemm512 is only dispatched when avx512f is available")
}

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Copies `kc` rows of NR contiguous floats (row stride `ldb`) into the panel. Strided rows of a
/// power-of-two width would all map to a few L1 sets; the packed copy is contiguous.
///
/// # Safety
/// avx512f; `b` readable at `l·ldb + j` for l < kc, j < NR; kc <= KC.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pack(kc: usize, b: *const f32, ldb: usize, panel: &mut Panel) {
    let dst = panel.0.as_mut_ptr();
    for l in 0..kc {
        for v in (0..NR).step_by(16) {
            // SAFETY: per the contract; l·NR + v + 16 <= KC·NR.
            unsafe { _mm512_store_ps(dst.add(l * NR + v), _mm512_loadu_ps(b.add(l * ldb + v))) };
        }
    }
}

/// Packs the transpose: `panel[l][j] = b[j·ldb + l]` for NR rows j of the weight, 16×16 blocks at
/// a time through registers (a gather per column would be several times slower).
///
/// # Safety
/// avx512f; `b` readable at `j·ldb + l` for j < NR, l < kc; kc <= KC and a multiple of 16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pack_t(kc: usize, b: *const f32, ldb: usize, panel: &mut Panel) {
    let dst = panel.0.as_mut_ptr();
    for j0 in (0..NR).step_by(16) {
        for l0 in (0..kc).step_by(16) {
            // SAFETY: rows j0..j0+16 < NR, columns l0..l0+16 <= kc, per the contract.
            let mut r: [__m512; 16] = std::array::from_fn(|i| unsafe { _mm512_loadu_ps(b.add((j0 + i) * ldb + l0)) });
            transpose16(&mut r);
            for (i, v) in r.iter().enumerate() {
                // SAFETY: (l0 + i)·NR + j0 + 16 <= kc·NR <= KC·NR; 64-byte aligned as NR·4 = 128.
                unsafe { _mm512_store_ps(dst.add((l0 + i) * NR + j0), *v) };
            }
        }
    }
}

/// In-register 16×16 transpose: after it, `r[c]` holds what was column `c`. Stages: interleave
/// pairs of rows (32-bit), then pairs of pairs (64-bit), then 128-bit lanes twice.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn transpose16(r: &mut [__m512; 16]) {
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    let pd = _mm512_castps_pd;
    for i in 0..4 {
        let (a, b, c, d) = (pd(t[4 * i]), pd(t[4 * i + 1]), pd(t[4 * i + 2]), pd(t[4 * i + 3]));
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    // Each 128-bit lane of r[4h + j] now holds rows 4h..4h+4 of one column (j + 4·lane).
    for h in 0..2 {
        for j in 0..4 {
            let (a, b) = (r[8 * h + j], r[8 * h + 4 + j]);
            t[8 * h + j] = _mm512_shuffle_f32x4::<0x88>(a, b);
            t[8 * h + 4 + j] = _mm512_shuffle_f32x4::<0xdd>(a, b);
        }
    }
    for j in 0..8 {
        r[j] = _mm512_shuffle_f32x4::<0x88>(t[j], t[8 + j]);
        r[8 + j] = _mm512_shuffle_f32x4::<0xdd>(t[j], t[8 + j]);
    }
}

/// The microkernel: `C[MR, NR] (+)= A[MR, kc] · panel[kc, NR]`, overwriting C unless `accumulate`.
/// With `A_COLS` the MR values of one contraction step are contiguous (`a[l·lda + i]`), otherwise
/// each row is (`a[i·lda + l]`).
///
/// # Safety
/// avx512f; `a` readable at every (i, l) of the tile through its layout; `c` writable at
/// `i·ldc + j` for i < MR, j < NR; kc <= KC.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn kernel<const A_COLS: bool>(
    kc: usize,
    a: *const f32,
    lda: usize,
    panel: &Panel,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    let b = panel.0.as_ptr();
    for l in 0..kc {
        // SAFETY: l < kc <= KC, so both loads are inside the aligned panel.
        let (b0, b1) = unsafe { (_mm512_load_ps(b.add(l * NR)), _mm512_load_ps(b.add(l * NR + 16))) };
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: (i, l) is inside the tile, per the contract.
            let av = _mm512_set1_ps(unsafe { *a.add(if A_COLS { l * lda + i } else { i * lda + l }) });
            row[0] = _mm512_fmadd_ps(av, b0, row[0]);
            row[1] = _mm512_fmadd_ps(av, b1, row[1]);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: row i < MR, columns 0..NR of C, per the contract.
        unsafe {
            let ci = c.add(i * ldc);
            let (mut v0, mut v1) = (row[0], row[1]);
            if accumulate {
                v0 = _mm512_add_ps(v0, _mm512_loadu_ps(ci));
                v1 = _mm512_add_ps(v1, _mm512_loadu_ps(ci.add(16)));
            }
            _mm512_storeu_ps(ci, v0);
            _mm512_storeu_ps(ci.add(16), v1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::{matmul, naive_product as naive};

    type Product = fn(usize, usize, usize, &[f32], &[f32], &mut [f32], Parallelism) -> bool;

    /// Max |got − want| over the largest |want|, so the bound does not depend on the depth.
    fn rel_err(got: &[f32], want: &[f32]) -> f32 {
        let scale = want.iter().fold(1f32, |s, v| s.max(v.abs()));
        got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max) / scale
    }

    /// Runs all three products at (m, n, k) through `x_wt`, `dy_w`, `dyt_x` and checks them
    /// against the f64 loops; returns whether the AVX-512 path took them.
    fn check(m: usize, n: usize, k: usize, par: Parallelism, prods: [Product; 3]) -> [bool; 3] {
        let x: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.71).cos()).collect();
        let dy: Vec<f32> = (0..m * n).map(|i| (i as f32 * 0.13).sin()).collect();
        // Stale values in the outputs prove that every product overwrites.
        let mut y = vec![7f32; m * n];
        let mut dx = vec![7f32; m * k];
        let mut dw = vec![7f32; n * k];
        let took = [
            prods[0](m, n, k, &x, &w, &mut y, par),
            prods[1](m, n, k, &dy, &w, &mut dx, par),
            prods[2](m, n, k, &dy, &x, &mut dw, par),
        ];
        let errs = [
            rel_err(&y, &naive(m, n, k, |i, l| x[i * k + l], |l, j| w[j * k + l])),
            rel_err(&dx, &naive(m, k, n, |i, l| dy[i * n + l], |l, j| w[l * k + j])),
            rel_err(&dw, &naive(n, k, m, |i, l| dy[l * n + i], |l, j| x[l * k + j])),
        ];
        for (name, (e, t)) in ["x_wt", "dy_w", "dyt_x"].iter().zip(errs.iter().zip(took)) {
            // A declined call leaves the output alone, so only a taken one is checked here.
            assert!(!t || *e < 1e-5, "{name} ({m},{n},{k}) {par:?}: relative error {e}");
        }
        took
    }

    #[test]
    fn kernel_matches_f64_loops() {
        if !available() {
            return;
        }
        // 512 in each role exercises the second contraction block, which accumulates into C.
        for (m, n, k) in [(256, 256, 256), (16, 64, 32), (512, 128, 256), (64, 512, 96), (32, 96, 512)] {
            for par in [Parallelism::None, Parallelism::Rayon(2), Parallelism::Rayon(3)] {
                let prods: [Product; 3] = [x_wt, dy_w, dyt_x];
                let took = check(m, n, k, par, prods);
                let want = [fits(m, n, k), fits(m, k, n), fits(n, k, m)];
                assert_eq!(took, want, "({m},{n},{k}) dispatch");
            }
        }
    }

    #[test]
    fn odd_shapes_fall_back_to_gemm() {
        for (m, n, k) in [(256, 100, 256), (12, 64, 64), (256, 256, 6), (256, 2, 256), (5, 3, 4)] {
            let prods: [Product; 3] = [x_wt, dy_w, dyt_x];
            let ours = check(m, n, k, Parallelism::None, prods);
            assert_eq!(ours, [false; 3], "({m},{n},{k}) must fall back in every product");
            // The dispatched products must be right whichever path they took.
            let disp: [Product; 3] = [
                |m, n, k, a, b, c, p| {
                    matmul::x_wt(m, n, k, a, b, c, p);
                    true
                },
                |m, n, k, a, b, c, p| {
                    matmul::dy_w(m, n, k, a, b, c, p);
                    true
                },
                |m, n, k, a, b, c, p| {
                    matmul::dyt_x(m, n, k, a, b, c, p);
                    true
                },
            ];
            check(m, n, k, Parallelism::None, disp);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn transpose16_is_a_transpose() {
        if !available() {
            return;
        }
        let src: Vec<f32> = (0..256).map(|i| i as f32).collect();
        let mut out = [0f32; 256];
        // SAFETY: avx512f checked above; every load and store is inside the 256-float arrays.
        unsafe {
            let mut r: [__m512; 16] = std::array::from_fn(|i| _mm512_loadu_ps(src.as_ptr().add(16 * i)));
            transpose16(&mut r);
            for (i, v) in r.iter().enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr().add(16 * i), *v);
            }
        }
        for i in 0..16 {
            for j in 0..16 {
                assert_eq!(out[i * 16 + j], src[j * 16 + i]);
            }
        }
    }
}
