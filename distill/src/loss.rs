//! Distillation losses on the actor's pre-tanh Gaussian (mean, log_std), averaged over the batch.

use candle_core::{Result, Tensor};

/// KL(teacher ‖ student) between diagonal Gaussians, summed over action dimensions:
/// log σs − log σt + (σt² + (μt − μs)²) / (2σs²) − ½.
pub fn kl(mean_s: &Tensor, log_std_s: &Tensor, mean_t: &Tensor, log_std_t: &Tensor) -> Result<Tensor> {
    let var_s2 = (log_std_s * 2.0)?.exp()?;
    let var_t = (log_std_t * 2.0)?.exp()?;
    let diff2 = (mean_t - mean_s)?.sqr()?;
    let ratio = ((var_t + diff2)? / (var_s2 * 2.0)?)?;
    let per_dim = ((log_std_s - log_std_t)? + ratio)?;
    (per_dim.sum(1)? - 0.5 * mean_s.dim(1)? as f64)?.mean_all()
}

/// ‖tanh(μs) − tanh(μt)‖², the deterministic actions' squared error.
pub fn mse(mean_s: &Tensor, mean_t: &Tensor) -> Result<Tensor> {
    (mean_s.tanh()? - mean_t.tanh()?)?.sqr()?.sum(1)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t(v: &[f32]) -> Tensor {
        Tensor::from_slice(v, (1, v.len()), &Device::Cpu).unwrap()
    }

    #[test]
    fn kl_matches_the_closed_form_by_hand() {
        // One dimension: μt = 0, σt = 1; μs = 1, σs = 2: ln 2 + (1 + 1)/8 − ½ = 0.693147 − 0.25.
        let v = kl(&t(&[1.0]), &t(&[2f32.ln()]), &t(&[0.0]), &t(&[0.0])).unwrap().to_scalar::<f32>().unwrap();
        assert!((v - (2f32.ln() - 0.25)).abs() < 1e-6, "{v}");
        // Identical Gaussians: zero, in every dimension.
        let same = kl(&t(&[0.3, -2.0]), &t(&[-1.0, 0.5]), &t(&[0.3, -2.0]), &t(&[-1.0, 0.5])).unwrap();
        assert!(same.to_scalar::<f32>().unwrap().abs() < 1e-6);
    }

    #[test]
    fn mse_is_on_the_squashed_actions() {
        let v = mse(&t(&[0.5, 10.0]), &t(&[0.0, 20.0])).unwrap().to_scalar::<f32>().unwrap();
        assert!((v - 0.5f32.tanh().powi(2)).abs() < 1e-6, "{v}");
    }
}
