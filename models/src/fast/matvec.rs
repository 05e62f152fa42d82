//! `y[m, n] = x[m, k] · w[n, k]ᵀ` for a handful of rows (serving), with the weights stored as f32,
//! bf16 or f16, on AVX-512 or AVX2 + FMA + F16C; f32 weights on ARM64's NEON too (a robot's computer).
//!
//! At batch 1 a deep trunk's forward reads every weight once and does two FLOPs with it. The kernel
//! streams `ROWS` weight rows side by side, each into its own accumulator: one accumulator per row
//! would leave every FMA waiting on the one before it (4–5 cycles), which is what the portable loop
//! does, and on an AVX2-only Zen 3 made a depth-8 forward 3.4× slower than on AVX-512. Weights in
//! half precision are widened to f32 in registers; every sum is f32.

#[cfg(target_arch = "aarch64")]
use std::arch::aarch64::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::isa::{active, Isa};

/// A stored weight format.
pub trait Weight: Copy {
    fn to_f32(self) -> f32;
}

impl Weight for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}

/// bfloat16 bits: the top half of an f32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct Bf16(pub u16);

/// IEEE binary16 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct F16(pub u16);

impl Weight for Bf16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from_bits((self.0 as u32) << 16)
    }
}

impl Weight for F16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        half::f16::from_bits(self.0).to_f32()
    }
}

/// `y = x wᵀ` for f32 weights on the widest kernel [`active`] allows; `false` (nothing written)
/// when there is none (no AVX2 on x86-64, a cap of `portable`, or another architecture), so the
/// caller runs its portable loop. Half weights are only ever multiplied packed ([`super::packed`]),
/// whose leftover rows reuse [`matvec`].
pub fn x_wt_rows(m: usize, n: usize, k: usize, x: &[f32], w: &[f32], y: &mut [f32]) -> bool {
    x_wt_rows_on(active(), m, n, k, x, w, y)
}

/// Whether this architecture has an f32 kernel at `isa`.
fn has_kernel(isa: Isa) -> bool {
    match isa {
        Isa::Avx2 | Isa::Avx512 => cfg!(target_arch = "x86_64"),
        Isa::Neon => cfg!(target_arch = "aarch64"),
        Isa::Portable => false,
    }
}

/// As [`x_wt_rows`] on a given level, which must not exceed what the CPU has ([`super::isa::detected`]):
/// tests use it to check every kernel on one machine.
pub fn x_wt_rows_on(isa: Isa, m: usize, n: usize, k: usize, x: &[f32], w: &[f32], y: &mut [f32]) -> bool {
    assert!(x.len() >= m * k && w.len() >= n * k && y.len() >= m * n, "x_wt_rows: buffer too small");
    assert!(isa <= super::isa::detected(), "x_wt_rows_on: {isa} is not available on this CPU");
    if !has_kernel(isa) {
        return false;
    }
    for i in 0..m {
        let (xi, yi) = (&x[i * k..(i + 1) * k], &mut y[i * n..(i + 1) * n]);
        match isa {
            // SAFETY: the level is available (asserted above), and the asserts bound row i of x
            // and y and all n·k weights, which is all the kernels read and write.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { matvec_avx512(n, k, xi, w, yi) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { matvec_avx2(n, k, xi, w, yi) },
            // SAFETY: as above (NEON is part of every ARM64 core, and `detected` checked it).
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => unsafe { matvec::<Q, f32>(n, k, xi, w, yi) },
            _ => unreachable!("has_kernel({isa}) said there is a kernel"),
        }
    }
    true
}

/// Output rows computed together: independent accumulators hide the FMA latency. Eight fit both
/// AVX2's 16 registers (with x and a weight vector) and AVX-512's and NEON's 32.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const ROWS: usize = 8;

/// One instruction set's f32 vector.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(super) trait Vector {
    type V: Copy;
    const LANES: usize;
    unsafe fn zero() -> Self::V;
    unsafe fn load(p: *const f32) -> Self::V;
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn sum(v: Self::V) -> f32;
}

#[cfg(target_arch = "x86_64")]
pub(super) struct Zmm;
#[cfg(target_arch = "x86_64")]
pub(super) struct Ymm;

// SAFETY (all `Vector` and `Load` methods): they are only called from `matvec`, inlined into a
// function compiled for the instruction set they use, on pointers `matvec` has bounds-checked.
#[cfg(target_arch = "x86_64")]
impl Vector for Zmm {
    type V = __m512;
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn zero() -> __m512 {
        // SAFETY: see the note above the impls; `matvec` bounds-checks every pointer first.
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        // SAFETY: see the note above the impls; `matvec` bounds-checks every pointer first.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: see the note above the impls; `matvec` bounds-checks every pointer first.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn sum(v: __m512) -> f32 {
        // SAFETY: see the note above the impls; `matvec` bounds-checks every pointer first.
        unsafe { _mm512_reduce_add_ps(v) }
    }
}

#[cfg(target_arch = "x86_64")]
impl Vector for Ymm {
    type V = __m256;
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> __m256 {
        // SAFETY: see the note above the impls; `matvec` bounds-checks every pointer first.
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        // SAFETY: see the note above the impls; `matvec` bounds-checks every pointer first.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: see the note above the impls; `matvec` bounds-checks every pointer first.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn sum(v: __m256) -> f32 {
        // SAFETY: see the note above the impls (register-only).
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
        }
    }
}

/// NEON's 128-bit vector of four f32.
#[cfg(target_arch = "aarch64")]
pub(super) struct Q;

#[cfg(target_arch = "aarch64")]
impl Vector for Q {
    type V = float32x4_t;
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn zero() -> float32x4_t {
        // SAFETY: register-only; NEON is part of the ARM64 baseline.
        unsafe { vdupq_n_f32(0.0) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> float32x4_t {
        // SAFETY: see the note above the x86 impls; `matvec` bounds-checks every pointer first.
        unsafe { vld1q_f32(p) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // SAFETY: register-only. vfmaq_f32(c, a, b) is c + a·b, fused.
        unsafe { vfmaq_f32(c, a, b) }
    }
    #[inline(always)]
    unsafe fn sum(v: float32x4_t) -> f32 {
        // SAFETY: register-only.
        unsafe { vaddvq_f32(v) }
    }
}

#[cfg(target_arch = "aarch64")]
impl Load<Q> for f32 {
    #[inline(always)]
    unsafe fn load(p: *const f32) -> float32x4_t {
        // SAFETY: see the note above the x86 impls; `matvec` bounds-checks every pointer first.
        unsafe { vld1q_f32(p) }
    }
}

/// Loading `LANES` stored weights of one format widened to an f32 vector.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(super) trait Load<V: Vector>: Weight {
    unsafe fn load(p: *const Self) -> V::V;
}

#[cfg(target_arch = "x86_64")]
impl Load<Zmm> for f32 {
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        // SAFETY: see the note above the impls; `matvec` bounds-checks every pointer first.
        unsafe { _mm512_loadu_ps(p) }
    }
}

#[cfg(target_arch = "x86_64")]
impl Load<Ymm> for f32 {
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        // SAFETY: see the note above the impls; `matvec` bounds-checks every pointer first.
        unsafe { _mm256_loadu_ps(p) }
    }
}

#[cfg(target_arch = "x86_64")]
impl Load<Zmm> for Bf16 {
    #[inline(always)]
    unsafe fn load(p: *const Bf16) -> __m512 {
        // SAFETY: see the note above the impls; `matvec` bounds-checks every pointer first.
        unsafe { _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(_mm256_loadu_si256(p.cast())))) }
    }
}

#[cfg(target_arch = "x86_64")]
impl Load<Ymm> for Bf16 {
    #[inline(always)]
    unsafe fn load(p: *const Bf16) -> __m256 {
        // SAFETY: see the note above the impls; `matvec` bounds-checks every pointer first.
        unsafe { _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(_mm_loadu_si128(p.cast())))) }
    }
}

#[cfg(target_arch = "x86_64")]
impl Load<Zmm> for F16 {
    #[inline(always)]
    unsafe fn load(p: *const F16) -> __m512 {
        // SAFETY: see the note above the impls; `matvec` bounds-checks every pointer first.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())) }
    }
}

#[cfg(target_arch = "x86_64")]
impl Load<Ymm> for F16 {
    #[inline(always)]
    unsafe fn load(p: *const F16) -> __m256 {
        // SAFETY: see the note above the impls; `matvec` bounds-checks every pointer first.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }
}

/// `y[j] = Σ_c w[j, c] · x[c]` for j < n: full vectors, then a scalar tail for k not a multiple of
/// the width (a first layer's few inputs).
///
/// # Safety
/// The CPU must support `V`'s instruction set; `x.len() >= k`, `w.len() >= n·k`, `y.len() >= n`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
pub(super) unsafe fn matvec<V: Vector, W: Load<V>>(n: usize, k: usize, x: &[f32], w: &[W], y: &mut [f32]) {
    debug_assert!(x.len() >= k && w.len() >= n * k && y.len() >= n);
    let (xp, wp) = (x.as_ptr(), w.as_ptr());
    let body = k - k % V::LANES;
    let tail = |j: usize| -> f32 { (body..k).map(|c| w[j * k + c].to_f32() * x[c]).sum() };
    let mut j = 0;
    while j + ROWS <= n {
        // SAFETY: the caller guarantees the instruction set.
        let mut acc = [unsafe { V::zero() }; ROWS];
        let mut c = 0;
        while c < body {
            // SAFETY: c + LANES <= body <= k; rows j..j + ROWS < n of w hold k values each.
            let xv = unsafe { V::load(xp.add(c)) };
            for (r, a) in acc.iter_mut().enumerate() {
                // SAFETY: as for `xv`.
                *a = unsafe { V::fmadd(W::load(wp.add((j + r) * k + c)), xv, *a) };
            }
            c += V::LANES;
        }
        for (r, a) in acc.iter().enumerate() {
            // SAFETY: the caller guarantees the instruction set.
            y[j + r] = unsafe { V::sum(*a) } + tail(j + r);
        }
        j += ROWS;
    }
    while j < n {
        // SAFETY: the caller guarantees the instruction set.
        let mut a = unsafe { V::zero() };
        let mut c = 0;
        while c < body {
            // SAFETY: c + LANES <= body <= k, and row j < n of w holds k values.
            a = unsafe { V::fmadd(W::load(wp.add(j * k + c)), V::load(xp.add(c)), a) };
            c += V::LANES;
        }
        // SAFETY: the caller guarantees the instruction set.
        y[j] = unsafe { V::sum(a) } + tail(j);
        j += 1;
    }
}

/// # Safety
/// avx512f must be available; the slices as [`matvec`] requires.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn matvec_avx512(n: usize, k: usize, x: &[f32], w: &[f32], y: &mut [f32]) {
    // SAFETY: forwarded from the caller.
    unsafe { matvec::<Zmm, f32>(n, k, x, w, y) }
}

/// # Safety
/// avx2, fma and f16c must be available; the slices as [`matvec`] requires.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn matvec_avx2(n: usize, k: usize, x: &[f32], w: &[f32], y: &mut [f32]) {
    // SAFETY: forwarded from the caller.
    unsafe { matvec::<Ymm, f32>(n, k, x, w, y) }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    use crate::fast::{isa::detected, naive_product};

    /// (m, n, k): 19 rows are two 8-row groups and a remainder; k = 48 is whole vectors on every
    /// level, k = 20 and 6 leave a scalar tail (6 is a point maze's first layer, all tail).
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    const SHAPES: [(usize, usize, usize); 5] = [(1, 19, 48), (3, 19, 48), (2, 19, 20), (1, 9, 6), (1, 256, 256)];

    /// The inputs and f32 weights every kernel test multiplies.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn operands(m: usize, n: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
        let x = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let w = (0..n * k).map(|i| (i as f32 * 0.71).cos() * 0.1).collect();
        (x, w)
    }

    /// Every format on every level this CPU has, against an f64 product of the decoded weights: f32
    /// through [`x_wt_rows_on`], the half formats through [`matvec`] directly (packed products run
    /// it on their leftover rows). The kernels exist on x86-64 only; elsewhere callers take the
    /// portable paths, which the inference tests check.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_kernel_matches_the_decoded_product() {
        let levels: Vec<Isa> = [Isa::Avx2, Isa::Avx512].into_iter().filter(|&i| i <= detected()).collect();
        for (m, n, k) in SHAPES {
            let (x, w) = operands(m, n, k);
            let bf: Vec<Bf16> = w.iter().map(|&v| Bf16(half::bf16::from_f32(v).to_bits())).collect();
            let fh: Vec<F16> = w.iter().map(|&v| F16(half::f16::from_f32(v).to_bits())).collect();
            for &isa in &levels {
                check(isa, m, n, k, &x, &w, |y| assert!(x_wt_rows_on(isa, m, n, k, &x, &w, y)));
                check(isa, m, n, k, &x, &bf, |y| rows(isa, m, n, k, &x, &bf, y));
                check(isa, m, n, k, &x, &fh, |y| rows(isa, m, n, k, &x, &fh, y));
            }
        }
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn check<W: Weight>(isa: Isa, m: usize, n: usize, k: usize, x: &[f32], w: &[W], run: impl FnOnce(&mut [f32])) {
        let want = naive_product(m, n, k, |i, l| x[i * k + l], |l, j| w[j * k + l].to_f32());
        let mut y = vec![f32::NAN; m * n];
        run(&mut y);
        let err = y.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        let kind = std::any::type_name::<W>();
        assert!(err < 1e-5, "{kind} on {isa} ({m},{n},{k}): error {err:e}");
    }

    /// [`matvec`] of any weight format, row by row, on `isa` (which the caller checked is here).
    #[cfg(target_arch = "x86_64")]
    fn rows<W: Load<Zmm> + Load<Ymm>>(isa: Isa, m: usize, n: usize, k: usize, x: &[f32], w: &[W], y: &mut [f32]) {
        #[target_feature(enable = "avx512f,avx2,fma,f16c")]
        unsafe fn wide<W: Load<Zmm>>(n: usize, k: usize, x: &[f32], w: &[W], y: &mut [f32]) {
            // SAFETY: forwarded from the caller.
            unsafe { matvec::<Zmm, W>(n, k, x, w, y) }
        }
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn avx2<W: Load<Ymm>>(n: usize, k: usize, x: &[f32], w: &[W], y: &mut [f32]) {
            // SAFETY: forwarded from the caller.
            unsafe { matvec::<Ymm, W>(n, k, x, w, y) }
        }
        assert!(isa <= detected() && x.len() >= m * k && w.len() >= n * k && y.len() >= m * n);
        for i in 0..m {
            let (xi, yi) = (&x[i * k..(i + 1) * k], &mut y[i * n..(i + 1) * n]);
            match isa {
                // SAFETY: the level is on this CPU and the slices are bounded (asserted above).
                Isa::Avx512 => unsafe { wide(n, k, xi, w, yi) },
                // SAFETY: as above.
                Isa::Avx2 => unsafe { avx2(n, k, xi, w, yi) },
                Isa::Neon | Isa::Portable => unreachable!("no x86 kernel on the {isa} level"),
            }
        }
    }

    #[test]
    fn no_kernel_on_the_portable_level() {
        let mut y = [7f32; 2];
        assert!(!x_wt_rows_on(Isa::Portable, 1, 2, 2, &[1.0; 2], &[1f32; 4], &mut y));
        assert_eq!(y, [7.0; 2], "nothing written");
    }

    /// The NEON kernel (ARM64; run under qemu by scripts/aarch64.sh) against an f64 product, on the
    /// shapes the x86 kernels are checked on.
    #[cfg(target_arch = "aarch64")]
    #[test]
    fn the_neon_kernel_matches_the_exact_product() {
        assert_eq!(detected(), Isa::Neon);
        for (m, n, k) in SHAPES {
            let (x, w) = operands(m, n, k);
            check(Isa::Neon, m, n, k, &x, &w, |y| assert!(x_wt_rows_on(Isa::Neon, m, n, k, &x, &w, y)));
        }
    }
}
