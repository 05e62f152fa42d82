//! One core's f32 FMA peak with 256-bit and 512-bit vectors: twelve independent FMA chains per width,
//! enough to cover the FMA latency, so the loop is bound by FMA throughput alone. It is the ceiling that
//! docs/performance.md compares every matmul backend against.
//!
//! `cargo run --release -p models --example fma_peak`

#[cfg(target_arch = "x86_64")]
mod peak {
    use std::arch::x86_64::*;

    const CHAINS: usize = 12;

    /// Returns a value that depends on every FMA, so none can be optimised away.
    #[target_feature(enable = "avx512f")]
    pub fn fma512(iters: u64) -> f32 {
        let mut acc = [_mm512_set1_ps(1.0); CHAINS];
        let (b, c) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm512_fmadd_ps(*a, b, c);
            }
        }
        _mm512_reduce_add_ps(acc.iter().fold(_mm512_setzero_ps(), |s, &a| _mm512_add_ps(s, a)))
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn fma256(iters: u64) -> f32 {
        let mut acc = [_mm256_set1_ps(1.0); CHAINS];
        let (b, c) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm256_fmadd_ps(*a, b, c);
            }
        }
        let mut lanes = [0f32; 8];
        let sum = acc.iter().fold(_mm256_setzero_ps(), |s, &a| _mm256_add_ps(s, a));
        // SAFETY: `lanes` holds exactly the eight f32 of one 256-bit vector.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
        lanes.iter().sum()
    }

    pub const FLOP_PER_ITER_512: f64 = (CHAINS * 16 * 2) as f64;
    pub const FLOP_PER_ITER_256: f64 = (CHAINS * 8 * 2) as f64;
}

#[cfg(target_arch = "x86_64")]
fn main() {
    use std::time::Instant;
    let iters = 20_000_000u64;
    for _ in 0..2 {
        if std::arch::is_x86_feature_detected!("avx512f") {
            let t = Instant::now();
            // SAFETY: avx512f was detected at run time.
            let r = unsafe { peak::fma512(iters) };
            let gf = iters as f64 * peak::FLOP_PER_ITER_512 / t.elapsed().as_secs_f64() / 1e9;
            println!("512-bit FMA: {gf:.1} GFLOP/s (checksum {r})");
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            let t = Instant::now();
            // SAFETY: avx2 and fma were detected at run time.
            let r = unsafe { peak::fma256(iters) };
            let gf = iters as f64 * peak::FLOP_PER_ITER_256 / t.elapsed().as_secs_f64() / 1e9;
            println!("256-bit FMA: {gf:.1} GFLOP/s (checksum {r})");
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!("fma_peak measures x86_64 vector units only");
}
