//! Half-precision weights for batch-1 serving: Linear weights stored as bf16 or f16 (half the
//! bytes a forward streams), widened to f32 in registers and multiplied with f32 activations.
//!
//! At batch 1 a deep trunk's forward reads every weight once and does two FLOPs with it, so its
//! time is the time to stream the weights from cache or memory; halving their size is what pays.
//! Activations, biases and LayerNorm parameters stay f32, and every sum is accumulated in f32.

use half::{bf16, f16};

/// How the Linear weights of a forward are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HalfKind {
    /// bfloat16: f32's exponent range, 8 significant bits.
    Bf16,
    /// IEEE half: 11 significant bits, magnitudes up to 65504 (weights here are far below).
    F16,
}

impl HalfKind {
    /// Rounds each value to the nearest representable half (ties to even).
    pub fn encode(self, src: &[f32]) -> Vec<u16> {
        match self {
            HalfKind::Bf16 => src.iter().map(|&v| bf16::from_f32(v).to_bits()).collect(),
            HalfKind::F16 => src.iter().map(|&v| f16::from_f32(v).to_bits()).collect(),
        }
    }

    #[inline(always)]
    pub fn decode(self, bits: u16) -> f32 {
        match self {
            HalfKind::Bf16 => f32::from_bits((bits as u32) << 16),
            HalfKind::F16 => f16::from_bits(bits).to_f32(),
        }
    }
}

/// `y[m, n] = x[m, k] · w[n, k]ᵀ` with `w` stored as halves: each weight row is streamed once per
/// input row and widened in registers.
pub fn x_wt_half(kind: HalfKind, m: usize, n: usize, k: usize, x: &[f32], w: &[u16], y: &mut [f32]) {
    assert!(x.len() >= m * k && w.len() >= n * k && y.len() >= m * n, "x_wt_half: buffer too small");
    #[cfg(target_arch = "x86_64")]
    {
        let done = match kind {
            HalfKind::Bf16 => avx512::matvec_rows::<avx512::Bf16>(m, n, k, x, w, y),
            HalfKind::F16 => avx512::matvec_rows::<avx512::F16>(m, n, k, x, w, y),
        };
        if done {
            return;
        }
    }
    x_wt_half_portable(kind, m, n, k, x, w, y)
}

/// The same product without SIMD intrinsics, for CPUs without AVX-512 and for widths that are not a
/// multiple of 16.
pub fn x_wt_half_portable(kind: HalfKind, m: usize, n: usize, k: usize, x: &[f32], w: &[u16], y: &mut [f32]) {
    for (j, wr) in w[..n * k].chunks_exact(k).enumerate() {
        for i in 0..m {
            let xi = &x[i * k..(i + 1) * k];
            let mut acc = [0f32; super::simd::LANES];
            for (wc, xc) in wr.chunks(super::simd::LANES).zip(xi.chunks(super::simd::LANES)) {
                for (l, (&b, &v)) in wc.iter().zip(xc).enumerate() {
                    acc[l] += kind.decode(b) * v;
                }
            }
            y[i * n + j] = acc.iter().sum();
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use std::arch::x86_64::*;

    /// Output rows computed together: independent accumulators hide the FMA latency.
    const ROWS: usize = 8;

    /// Sixteen stored weights widened to f32.
    pub trait Lanes {
        type T;
        /// # Safety
        /// `p` must point at 16 readable values and avx512f must be available.
        unsafe fn load(p: *const Self::T) -> __m512;
    }

    pub struct F32;
    pub struct Bf16;
    pub struct F16;

    impl Lanes for F32 {
        type T = f32;
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m512 {
            // SAFETY: the caller guarantees 16 readable f32 at `p` and avx512f.
            unsafe { _mm512_loadu_ps(p) }
        }
    }

    impl Lanes for Bf16 {
        type T = u16;
        #[inline(always)]
        unsafe fn load(p: *const u16) -> __m512 {
            // SAFETY: the caller guarantees 16 readable u16 (32 bytes) at `p` and avx512f.
            unsafe {
                let h = _mm256_loadu_si256(p as *const __m256i);
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
            }
        }
    }

    impl Lanes for F16 {
        type T = u16;
        #[inline(always)]
        unsafe fn load(p: *const u16) -> __m512 {
            // SAFETY: the caller guarantees 16 readable u16 (32 bytes) at `p` and avx512f.
            unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)) }
        }
    }

    /// `y[m, n] = x[m, k] · w[n, k]ᵀ`, one [`matvec`] per input row, if avx512f is available and
    /// k is a multiple of 16; `false` (nothing written) otherwise.
    pub fn matvec_rows<L: Lanes>(m: usize, n: usize, k: usize, x: &[f32], w: &[L::T], y: &mut [f32]) -> bool {
        assert!(x.len() >= m * k && w.len() >= n * k && y.len() >= m * n, "matvec_rows: buffer too small");
        if !k.is_multiple_of(16) || !crate::fast::gemm512::available() {
            return false;
        }
        for i in 0..m {
            // SAFETY: avx512f was detected at run time; k is a multiple of 16, and the assert above
            // bounds row i of x and y and all n·k weights.
            unsafe { matvec::<L>(n, k, &x[i * k..], w, &mut y[i * n..]) }
        }
        true
    }

    /// `y[j] = Σ_c w[j, c] · x[c]` for j < n.
    ///
    /// # Safety
    /// avx512f must be available, k a multiple of 16, `x.len() >= k`, `w.len() >= n·k`,
    /// `y.len() >= n`.
    #[target_feature(enable = "avx512f")]
    unsafe fn matvec<L: Lanes>(n: usize, k: usize, x: &[f32], w: &[L::T], y: &mut [f32]) {
        let (xp, wp) = (x.as_ptr(), w.as_ptr());
        let mut j = 0;
        while j + ROWS <= n {
            let mut acc = [_mm512_setzero_ps(); ROWS];
            let mut c = 0;
            while c < k {
                // SAFETY: c + 16 <= k <= x.len(), and row j + r < n of w holds k values from (j + r)·k.
                let xv = unsafe { _mm512_loadu_ps(xp.add(c)) };
                for (r, a) in acc.iter_mut().enumerate() {
                    // SAFETY: as above.
                    *a = _mm512_fmadd_ps(unsafe { L::load(wp.add((j + r) * k + c)) }, xv, *a);
                }
                c += 16;
            }
            for (r, a) in acc.iter().enumerate() {
                y[j + r] = _mm512_reduce_add_ps(*a);
            }
            j += ROWS;
        }
        while j < n {
            let mut a = _mm512_setzero_ps();
            let mut c = 0;
            while c < k {
                // SAFETY: c + 16 <= k <= x.len(), and row j < n of w holds k values from j·k.
                let (wv, xv) = unsafe { (L::load(wp.add(j * k + c)), _mm512_loadu_ps(xp.add(c))) };
                a = _mm512_fmadd_ps(wv, xv, a);
                c += 16;
            }
            y[j] = _mm512_reduce_add_ps(a);
            j += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::naive_product;

    #[test]
    fn half_products_match_the_decoded_weights() {
        // 19 rows exercise the 8-row groups and the remainder; k = 48 the 16-wide chunks, k = 20
        // the portable fallback.
        for (m, n, k) in [(1, 19, 48), (3, 19, 48), (2, 5, 20)] {
            let x: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.71).cos() * 0.1).collect();
            for kind in [HalfKind::Bf16, HalfKind::F16] {
                let bits = kind.encode(&w);
                let decoded: Vec<f32> = bits.iter().map(|&b| kind.decode(b)).collect();
                let want = naive_product(m, n, k, |i, l| x[i * k + l], |l, j| decoded[j * k + l]);
                for (name, f) in
                    [("dispatched", x_wt_half as fn(_, _, _, _, _, _, &mut [f32])), ("portable", x_wt_half_portable)]
                {
                    let mut y = vec![f32::NAN; m * n];
                    f(kind, m, n, k, &x, &bits, &mut y);
                    let err = y.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                    assert!(err < 1e-5, "{kind:?} {name} ({m},{n},{k}): error {err:e}");
                }
            }
        }
    }

    #[test]
    fn encoding_rounds_to_nearest() {
        let v = [1.0f32, -0.1, 3.0e-3, 0.0];
        for kind in [HalfKind::Bf16, HalfKind::F16] {
            let rel = if kind == HalfKind::Bf16 { 1.0 / 256.0 } else { 1.0 / 2048.0 };
            for (&x, &b) in v.iter().zip(&kind.encode(&v)) {
                assert!((kind.decode(b) - x).abs() <= x.abs() * rel, "{kind:?}: {x} -> {}", kind.decode(b));
            }
        }
        // bf16 keeps f32's exponent range; f16 does not.
        let big = HalfKind::Bf16.decode(HalfKind::Bf16.encode(&[1e30])[0]);
        assert!((big / 1e30 - 1.0).abs() < 1.0 / 256.0, "bf16 1e30 -> {big}");
        assert!(HalfKind::F16.decode(HalfKind::F16.encode(&[1e30])[0]).is_infinite());
    }
}
