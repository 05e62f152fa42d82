//! The network's constants (DESIGN.md section 2), shared by every path that computes it: the fused CPU
//! step, batch-1 inference, the GPU kernels, the ONNX export and candle's reference ([`crate::reference`],
//! which re-exports them). They live apart from the reference so a build without candle (a robot's,
//! `default-features = false`) has them too.

/// LayerNorm's epsilon.
pub const LN_EPS: f64 = 1e-6;
/// Added inside the square root of every distance (DESIGN.md section 2).
pub const DIST_EPS: f64 = 1e-6;
/// The log σ head's range: `tanh` maps its pre-activation into `[LOG_STD_MIN, LOG_STD_MAX]`.
pub const LOG_STD_MIN: f64 = -5.0;
pub const LOG_STD_MAX: f64 = 2.0;
/// Weight of the logsumexp² penalty in the critic loss.
pub const LSE_PENALTY: f64 = 0.1;

/// Target entropy of the automatic temperature: −0.5·|A|.
pub fn target_entropy(action_dim: usize) -> f64 {
    -0.5 * action_dim as f64
}
