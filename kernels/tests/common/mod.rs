//! Helpers shared by the kernel tests.
#![allow(dead_code)] // each test file uses its own subset

use kernels::cpu::CpuDevice;
use kernels::device::{Buf, Device};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The kernel tests' tolerance: |kernel − fused| ≤ TOL · max(1, |fused|).
pub const TOL: f32 = 1e-5;

pub fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

pub fn put(dev: &mut CpuDevice, v: &[f32]) -> Buf {
    let b = dev.alloc(v.len()).unwrap();
    dev.upload(b.into(), v).unwrap();
    b
}

pub fn get(dev: &mut CpuDevice, b: Buf) -> Vec<f32> {
    let mut v = vec![0.0; dev.len(b).unwrap()];
    dev.download(b.into(), &mut v).unwrap();
    v
}

pub fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_close_tol(what, got, want, TOL)
}

pub fn assert_close_tol(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let (mut worst, mut at) = (0f32, 0);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g.is_finite(), "{what}[{i}] = {g}");
        let err = (g - w).abs() / w.abs().max(1.0);
        if err > worst {
            (worst, at) = (err, i);
        }
    }
    assert!(worst <= tol, "{what}: worst scaled error {worst:e} at {at} (kernel {}, fused {})", got[at], want[at]);
}
