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

/// Critic distillation: mean squared error of the student's φ(s, a) and ψ(g) against the teacher's,
/// plus the row-wise KL(teacher ‖ student) of the softmax over the in-batch logit matrices
/// logits[i, j] = −‖φ_i − ψ_j‖, which carries the teacher's ranking of goals, not only its embeddings.
pub fn critic(phi_s: &Tensor, psi_s: &Tensor, phi_t: &Tensor, psi_t: &Tensor) -> Result<Tensor> {
    let emb = ((phi_s - phi_t)?.sqr()?.mean_all()? + (psi_s - psi_t)?.sqr()?.mean_all()?)?;
    let log_softmax = |l: Tensor| -> Result<Tensor> {
        let lse = models::reference::logsumexp_rows(&l).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        l.broadcast_sub(&lse.unsqueeze(1)?)
    };
    let pairwise = |phi: &Tensor, psi: &Tensor| {
        models::reference::pairwise_logits(phi, psi).map_err(|e| candle_core::Error::Msg(e.to_string()))
    };
    let log_pt = log_softmax(pairwise(phi_t, psi_t)?)?;
    let log_ps = log_softmax(pairwise(phi_s, psi_s)?)?;
    let kl = (log_pt.exp()? * (&log_pt - log_ps)?)?.sum(1)?.mean_all()?;
    emb + kl
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
    fn critic_loss_is_zero_only_for_the_teachers_embeddings() {
        let m = |v: &[f32]| Tensor::from_slice(v, (2, 2), &Device::Cpu).unwrap();
        let (phi, psi) = (m(&[0.0, 0.0, 3.0, 0.0]), m(&[0.0, 1.0, 3.0, 1.0]));
        let same = critic(&phi, &psi, &phi, &psi).unwrap().to_scalar::<f32>().unwrap();
        assert!(same.abs() < 1e-6, "{same}");
        // Shifting both embeddings together keeps the logits (KL 0) but not the embeddings:
        // MSE = 1 for φ and 1 for ψ.
        let shift = |t: &Tensor| (t + 1.0).unwrap();
        let v = critic(&shift(&phi), &shift(&psi), &phi, &psi).unwrap().to_scalar::<f32>().unwrap();
        assert!((v - 2.0).abs() < 1e-5, "{v}");
        // Swapping the student's goals reverses its ranking: a positive KL on top of the MSE.
        let swapped = m(&[3.0, 1.0, 0.0, 1.0]);
        let v = critic(&phi, &swapped, &phi, &psi).unwrap().to_scalar::<f32>().unwrap();
        assert!(v > 4.5 + 1.0, "{v}");
    }

    #[test]
    fn mse_is_on_the_squashed_actions() {
        let v = mse(&t(&[0.5, 10.0]), &t(&[0.0, 20.0])).unwrap().to_scalar::<f32>().unwrap();
        assert!((v - 0.5f32.tanh().powi(2)).abs() < 1e-6, "{v}");
    }
}
