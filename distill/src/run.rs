//! The distillation loop: prefill with teacher-driven rollouts, then alternate a β-mixed collection
//! round and SGD steps on the aggregated labels; at the end, evaluate teacher and student closed-loop on
//! the eval goals and write the student (checkpoint and ONNX) and the report.

use std::path::Path;
use std::time::Instant;

use crate::error::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use envs::eval::EvalReport;
use envs::make_with;
use models::infer::ActorInfer;
use models::reference::CandleModel;
use models::{Model, ModelConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::baseline::{evaluate_actor, evaluate_policy};
pub use crate::config::{DistillConfig, Loss, Method};
use crate::dagger::{collect_round, LabelBatch, Labels};
use crate::teacher::Teacher;

/// One point of the distillation curve.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CurvePoint {
    pub sgd_steps: usize,
    pub labelled: u64,
    pub loss: f32,
    /// Mean squared error of tanh(mean) against the teacher's on a held-out labelled batch.
    pub heldout_action_mse: f32,
    /// The critic-distillation part of the last loss (with `critic`).
    pub critic_loss: Option<f32>,
    /// Closed-loop success of the student over `curve_eval_episodes` eval episodes (None: not measured).
    #[serde(default)]
    pub success_rate: Option<f64>,
}

/// What a run produced.
pub struct Outcome {
    pub student: Model,
    pub teacher_eval: EvalReport,
    pub student_eval: EvalReport,
    pub curve: Vec<CurvePoint>,
    pub labelled: u64,
    pub wall_s: f64,
}

/// The student's candle network, its optimiser and its host copy.
struct Student {
    net: CandleModel,
    opt: AdamW,
    model: Model,
}

impl Student {
    fn new(model: Model, lr: f64) -> Result<Self> {
        let net = CandleModel::from_model(&model, &Device::Cpu, DType::F32)?;
        let vars = net.names.iter().map(|n| net.vars[n].clone()).collect();
        let opt = AdamW::new(vars, ParamsAdamW { lr, weight_decay: 0.0, ..ParamsAdamW::default() })?;
        Ok(Student { net, opt, model })
    }

    /// The actor loss, and the critic loss when `teacher` (the teacher's candle network) is given.
    fn loss(&self, b: &LabelBatch, loss: Loss, teacher: Option<&CandleModel>) -> Result<(Tensor, Option<Tensor>)> {
        let (cfg, dev) = (&self.model.cfg, &self.net.device);
        let rows = b.mean.len() / cfg.action_dim;
        let obs = Tensor::from_slice(&b.obs, (rows, cfg.state_dim + cfg.goal_dim), dev)?;
        let mean_t = Tensor::from_slice(&b.mean, (rows, cfg.action_dim), dev)?;
        let log_std_t = Tensor::from_slice(&b.log_std, (rows, cfg.action_dim), dev)?;
        let (mean, log_std) = self.net.actor(&obs)?;
        let actor = match loss {
            Loss::Mse => crate::loss::mse(&mean, &mean_t)?,
            Loss::Kl => crate::loss::kl(&mean, &log_std, &mean_t, &log_std_t)?,
        };
        let Some(t) = teacher else { return Ok((actor, None)) };
        let states = obs.narrow(1, 0, cfg.state_dim)?;
        let goals = obs.narrow(1, cfg.state_dim, cfg.goal_dim)?;
        let sa = Tensor::cat(&[&states, &Tensor::from_slice(&b.actions, (rows, cfg.action_dim), dev)?], 1)?;
        let (phi_t, psi_t) = (t.phi(&sa)?.detach(), t.psi(&goals)?.detach());
        let critic = crate::loss::critic(&self.net.phi(&sa)?, &self.net.psi(&goals)?, &phi_t, &psi_t)?;
        Ok((actor, Some(critic)))
    }

    fn step(&mut self, b: &LabelBatch, loss: Loss, teacher: Option<&CandleModel>) -> Result<(f32, Option<f32>)> {
        let (actor, critic) = self.loss(b, loss, teacher)?;
        let total = match &critic {
            Some(c) => (&actor + c)?,
            None => actor.clone(),
        };
        self.opt.backward_step(&total)?;
        Ok((total.to_scalar::<f32>()?, critic.map(|c| c.to_scalar::<f32>()).transpose()?))
    }

    fn sync(&mut self) -> Result<&Model> {
        self.net.write_back(&mut self.model)?;
        Ok(&self.model)
    }
}

/// The student's configuration: the teacher's interface, an actor only.
pub fn student_config(teacher: &ModelConfig, cfg: &DistillConfig, parent: &Path) -> ModelConfig {
    let mut s = teacher.clone();
    s.actor_depth = cfg.student_depth;
    s.critic_depth = if cfg.critic { cfg.student_depth } else { 0 };
    s.width = cfg.student_width.unwrap_or(teacher.width);
    // A width-pruned teacher's inner widths describe its own blocks, not the student's.
    s.inner_widths = None;
    s.training_step = 0;
    s.parent = Some(parent.display().to_string());
    s
}

fn heldout_mse(student: &mut ActorInfer, b: &LabelBatch, action_dim: usize) -> Result<f32> {
    let rows = b.mean.len() / action_dim;
    let a = student.act_obs(&b.obs, rows).context("student")?;
    let sum: f32 = a.iter().zip(&b.mean).map(|(x, m)| (x - m.tanh()).powi(2)).sum();
    Ok(sum / rows as f32)
}

/// Distils `teacher` into a fresh student as `cfg` says; `on_point` sees each curve point as it is measured.
pub fn distill(cfg: &DistillConfig, teacher: &Teacher, on_point: impl FnMut(&CurvePoint)) -> Result<Outcome> {
    cfg.validate()?;
    let scfg = student_config(&teacher.model.cfg, cfg, &teacher.checkpoint);
    distill_into(cfg, teacher, Model::init(&scfg, cfg.seed)?, on_point)
}

/// Distils `teacher` into `student`, starting from its current weights (pruning heals this way: the
/// pruned network is the student and the unpruned one the teacher). `cfg.student_depth` and
/// `cfg.student_width` are ignored; the student keeps its own shape and `parent`.
pub fn distill_into(
    cfg: &DistillConfig,
    teacher: &Teacher,
    student: Model,
    mut on_point: impl FnMut(&CurvePoint),
) -> Result<Outcome> {
    cfg.validate()?;
    let start = Instant::now();
    let tcfg = &teacher.model.cfg;
    let env_name = cfg.env.clone().unwrap_or_else(|| tcfg.env.clone());
    let opts = teacher.env_options();
    let mut env = make_with(&env_name, cfg.num_envs, cfg.seed, &opts)?;
    let spec = env.spec().clone();
    if (spec.state_dim, spec.goal_dim, spec.action_dim) != (tcfg.state_dim, tcfg.goal_dim, tcfg.action_dim) {
        bail!(
            "{}: the teacher was trained on {} (state {}, goal {}, action {}) but {env_name} has state {}, goal {}, \
             action {}; pick a matching --env",
            teacher.checkpoint.display(),
            tcfg.env,
            tcfg.state_dim,
            tcfg.goal_dim,
            tcfg.action_dim,
            spec.state_dim,
            spec.goal_dim,
            spec.action_dim
        );
    }
    if cfg.critic && tcfg.critic_depth == 0 {
        bail!("{}: --critic needs a teacher with a critic, and this checkpoint has none", teacher.checkpoint.display());
    }
    let scfg = &student.cfg;
    if (scfg.state_dim, scfg.goal_dim, scfg.action_dim) != (tcfg.state_dim, tcfg.goal_dim, tcfg.action_dim) {
        bail!(
            "the student (state {}, goal {}, action {}) does not have the teacher's interface (state {}, goal {}, \
             action {})",
            scfg.state_dim,
            scfg.goal_dim,
            scfg.action_dim,
            tcfg.state_dim,
            tcfg.goal_dim,
            tcfg.action_dim
        );
    }
    if cfg.critic && scfg.critic_depth == 0 {
        bail!("--critic: the student has no critic to distill into");
    }
    let teacher_net =
        if cfg.critic { Some(CandleModel::from_model(&teacher.model, &Device::Cpu, DType::F32)?) } else { None };
    let mut student = Student::new(student, cfg.lr)?;
    let mut s_actor = ActorInfer::new(&student.model);
    let mut t_actor = ActorInfer::new(&teacher.model);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xD157);
    let od = spec.state_dim + spec.goal_dim;
    let mut labels = Labels::new(od, spec.action_dim, 1 << 20);

    // A held-out set from teacher-driven rollouts of a separately seeded batch.
    let mut heldout_env = make_with(&env_name, cfg.num_envs, envs::seed::derive(cfg.seed, 7_919), &opts)?;
    let mut heldout = Labels::new(od, spec.action_dim, 4 * cfg.batch_size);
    collect_round(heldout_env.as_mut(), &mut s_actor, &mut t_actor, 1.0, 32, &mut rng, &mut heldout)?;
    let mut heldout_batch = LabelBatch::default();
    heldout.sample(cfg.batch_size, &mut rng, &mut heldout_batch);

    let beta =
        |round: usize| if cfg.method == Method::Bc { 1.0 } else { cfg.beta0 * cfg.beta_decay.powi(round as i32) };
    collect_round(env.as_mut(), &mut s_actor, &mut t_actor, 1.0, cfg.unroll_length, &mut rng, &mut labels)?;
    let mut curve = Vec::new();
    let mut batch = LabelBatch::default();
    let (mut sgd, mut round, mut last, mut last_critic) = (0usize, 0usize, f32::NAN, None);
    let every = (cfg.steps / 30).max(cfg.sgd_steps_per_round);
    while sgd < cfg.steps {
        for _ in 0..cfg.sgd_steps_per_round.min(cfg.steps - sgd) {
            labels.sample(cfg.batch_size, &mut rng, &mut batch);
            (last, last_critic) = student.step(&batch, cfg.loss, teacher_net.as_ref())?;
            if !last.is_finite() {
                bail!("distillation loss became {last} at step {sgd}; try a lower --lr");
            }
            sgd += 1;
        }
        s_actor.refresh(student.sync()?)?;
        if sgd % every < cfg.sgd_steps_per_round || sgd >= cfg.steps {
            let p = CurvePoint {
                sgd_steps: sgd,
                labelled: labels.labelled,
                loss: last,
                heldout_action_mse: heldout_mse(&mut s_actor, &heldout_batch, spec.action_dim)?,
                critic_loss: last_critic,
                success_rate: match cfg.curve_eval_episodes {
                    0 => None,
                    n => Some(evaluate_policy(&student.model, &env_name, &opts, n, cfg.seed)?.success_rate.mean),
                },
            };
            on_point(&p);
            curve.push(p);
        }
        round += 1;
        if sgd < cfg.steps {
            collect_round(
                env.as_mut(),
                &mut s_actor,
                &mut t_actor,
                beta(round),
                cfg.unroll_length,
                &mut rng,
                &mut labels,
            )?;
        }
    }
    // The loop synced the host copy after the last updates.
    let mut final_student = student.model.clone();
    final_student.cfg.training_step = sgd as u64;

    let teacher_eval = teacher.evaluate(&env_name, cfg.eval_episodes, cfg.seed)?;
    let student_eval = evaluate_actor(&final_student, cfg, &env_name, &opts)?;
    Ok(Outcome {
        student: final_student,
        teacher_eval,
        student_eval,
        curve,
        labelled: labels.labelled,
        wall_s: start.elapsed().as_secs_f64(),
    })
}
