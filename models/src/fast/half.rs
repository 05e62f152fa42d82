//! Half-precision weights for batch-1 serving: Linear weights stored as bf16 or f16 (half the
//! bytes a forward streams), widened to f32 in registers and multiplied with f32 activations
//! ([`super::packed`]).
//!
//! At batch 1 a deep trunk's forward reads every weight once and does two FLOPs with it, so its
//! time is the time to stream the weights from cache or memory; halving their size is what pays.
//! Activations, biases and LayerNorm parameters stay f32, and every sum is accumulated in f32.

use half::{bf16, f16};

use super::matvec::{Bf16, Weight, F16};
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
            HalfKind::Bf16 => Bf16(bits).to_f32(),
            HalfKind::F16 => F16(bits).to_f32(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
