//! Helpers that let the row kernels vectorise: a branch-free `exp`, lane-wise sums, and runtime
//! dispatch to AVX2/AVX-512 builds of a kernel.
//!
//! The standard library's `expf` is a call LLVM cannot vectorise, and float sums are not reordered
//! without fast-math, so a plain loop over a row runs one element at a time. The kernels here are
//! written so LLVM can use full vectors, and `dispatch!` compiles each kernel again under
//! `#[target_feature]` so a portable binary still uses the CPU's wide registers.

/// eˣ to within a few ulp for x in [−87, 88] (clamped outside), with no branches or calls:
/// range reduction x = n·ln2 + r, a degree-6 polynomial for eʳ (Cephes coefficients), then 2ⁿ
/// built in the exponent bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding and subtracting it rounds to the nearest integer in round-to-even mode.
    const ROUND: f32 = 12_582_912.0;
    // Comparisons rather than `clamp`, and 2ⁿ from the bits of n + ROUND rather than `n as i32`:
    // `clamp` and the saturating `as` are defined for NaN and out-of-range values, and LLVM kept
    // that with scalar compares and lane inserts, which made a LayerNorm row take 4× its vector
    // time. A NaN still comes out NaN (both comparisons are false, and r is NaN).
    let x = if x < -87.0 { -87.0 } else { x };
    let x = if x > 88.0 { 88.0 } else { x };
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    // n ∈ [−126, 127] is an integer, so n + 127 + ROUND holds n + 127 ∈ [1, 254] in its low
    // mantissa bits; shifted into the exponent field they make 2ⁿ.
    er * f32::from_bits((shifted + 127.0).to_bits() << 23)
}

/// σ(y) = 1 / (1 + e⁻ʸ).
#[inline(always)]
pub fn sigmoid(y: f32) -> f32 {
    1.0 / (1.0 + exp(-y))
}

pub const LANES: usize = 8;

/// Σ f(aᵢ), accumulated in eight independent lanes so the loop vectorises.
#[inline(always)]
pub fn sum_map(a: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = a.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|&x| f(x)).sum();
    for c in chunks {
        for k in 0..LANES {
            acc[k] += f(c[k]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Σ f(aᵢ, bᵢ) over two equally long slices, in eight lanes.
#[inline(always)]
pub fn sum_map2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| f(x, y)).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] += f(x[k], y[k]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Defines `$name` calling `$body` through the widest instruction set [`super::isa::active`] allows.
/// `$body` must be `#[inline(always)]` so each variant is compiled with its target features.
macro_rules! dispatch {
    ($vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $body:path) => {
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn wide($($arg: $ty),*) {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                match $crate::fast::isa::active() {
                    // SAFETY: `active` reports a level only when the CPU has its features.
                    $crate::fast::isa::Isa::Avx512 => return unsafe { wide($($arg),*) },
                    // SAFETY: as above.
                    $crate::fast::isa::Isa::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::fast::isa::Isa::Neon | $crate::fast::isa::Isa::Portable => {}
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use dispatch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_over_the_range_the_kernels_use() {
        let mut worst = 0f64;
        let mut x = -80.0f32;
        while x < 80.0 {
            let rel = ((exp(x) as f64 - (x as f64).exp()) / (x as f64).exp()).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 5e-7, "worst relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-200.0) > 0.0 && exp(-200.0) < 1e-37);
        assert!(exp(200.0).is_finite());
        assert!(exp(f32::NAN).is_nan() && sigmoid(f32::NAN).is_nan(), "a NaN must not be hidden");
        assert_eq!(exp(f32::NEG_INFINITY), exp(-87.0));
    }

    #[test]
    fn sigmoid_saturates_cleanly() {
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
        assert_eq!(sigmoid(100.0), 1.0);
        assert!(sigmoid(-100.0) >= 0.0 && sigmoid(-100.0) < 1e-30);
    }

    #[test]
    fn lane_sums_handle_tails() {
        for n in [0usize, 1, 7, 8, 9, 31, 256] {
            let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let want: f32 = a.iter().map(|x| 2.0 * x).sum();
            assert_eq!(sum_map(&a, |x| 2.0 * x), want, "n = {n}");
            let want2: f32 = a.iter().map(|x| x * x).sum();
            assert_eq!(sum_map2(&a, &a, |x, y| x * y), want2, "n = {n}");
        }
    }
}
