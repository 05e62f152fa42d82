//! The student on the robot: loaded from a path, identified by the SHA-256 of its file, and checked
//! against the server's contract before the robot moves, so robot and server never disagree about
//! the model that follows the plans.
//!
//! A `student.safetensors` (or a directory holding one) runs through `models`' batch-1 inference path;
//! a `student.onnx` (the export `distill` writes beside it) runs through tract (the `onnx` feature), and
//! is checked against the contract's `onnx_sha256`, the server's hash of the export beside its controller.

use std::path::{Path, PathBuf};
#[cfg(feature = "onnx")]
use std::sync::Arc;

use link::wire::Contract;
use models::infer::ActorInfer;
use models::Model;
use sha2::{Digest, Sha256};
#[cfg(feature = "onnx")]
use tract_onnx::prelude::{
    tvec, Framework, InferenceModelExt, IntoRunnable, IntoTValue, OutletId, Tensor, TypedRunnableModel,
};

use crate::error::{Result, RobotError};

enum Backend {
    Native(Box<Model>),
    #[cfg(feature = "onnx")]
    Onnx(Arc<TypedRunnableModel>),
}

/// A student read from disk.
pub struct Student {
    /// The file (a directory given on the command line resolves to the checkpoint in it).
    pub checkpoint: PathBuf,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// (state, goal, action) sizes.
    pub dims: (usize, usize, usize),
    backend: Backend,
}

/// One robot's copy of the student (each holds its own buffers).
pub enum Policy {
    Native(Box<ActorInfer>),
    #[cfg(feature = "onnx")]
    Onnx {
        plan: Arc<TypedRunnableModel>,
        state_dim: usize,
        goal_dim: usize,
    },
}

impl Policy {
    /// The deterministic action at `state` toward `goal`.
    pub fn act(&mut self, state: &[f32], goal: &[f32]) -> std::result::Result<Vec<f32>, String> {
        match self {
            Policy::Native(actor) => actor.act(state, goal).map(<[f32]>::to_vec).map_err(|e| e.to_string()),
            #[cfg(feature = "onnx")]
            Policy::Onnx { plan, state_dim, goal_dim } => {
                let s = Tensor::from_shape(&[1, *state_dim], state).map_err(|e| e.to_string())?;
                let g = Tensor::from_shape(&[1, *goal_dim], goal).map_err(|e| e.to_string())?;
                let out = plan.run(tvec!(s.into_tvalue(), g.into_tvalue())).map_err(|e| e.to_string())?;
                let action = out.first().ok_or("the ONNX graph has no outputs")?;
                let view = action.to_plain_array_view::<f32>().map_err(|e| e.to_string())?;
                Ok(view.iter().copied().collect())
            }
        }
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Student {
    /// Reads the student at `path`: `student.safetensors`, `student.onnx`, or a student directory.
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |why: String| RobotError::Student { path: path.to_path_buf(), why };
        if path.extension().is_some_and(|e| e == "onnx") {
            return Self::load_onnx(path).map_err(bad);
        }
        let checkpoint = rundir::checkpoint_in(path).map_err(|e| bad(e.to_string()))?;
        let bytes = std::fs::read(&checkpoint).map_err(|e| bad(format!("{}: {e}", checkpoint.display())))?;
        let model = models::checkpoint::load(&checkpoint).map_err(|e| bad(e.to_string()))?;
        let c = &model.cfg;
        let dims = (c.state_dim, c.goal_dim, c.action_dim);
        Ok(Student { checkpoint, sha256: hex_sha256(&bytes), dims, backend: Backend::Native(Box::new(model)) })
    }

    #[cfg(not(feature = "onnx"))]
    fn load_onnx(_: &Path) -> std::result::Result<Self, String> {
        Err("this build runs ONNX students only with the onnx feature (`cargo build --release -p robot \
             --features onnx`); or pass the student.safetensors beside it"
            .into())
    }

    #[cfg(feature = "onnx")]
    fn load_onnx(path: &Path) -> std::result::Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        let model = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .map_err(|e| format!("not an ONNX model tract can read: {e}"))?;
        let model = model.into_typed().map_err(|e| format!("the ONNX graph does not type-check: {e}"))?;
        // The export's inputs are state [batch, state_dim] and goal [batch, goal_dim]; output 0 is the action.
        let width = |outlet: Option<&OutletId>| {
            let fact = model.outlet_fact(*outlet?).ok()?;
            fact.shape.iter().last()?.to_i64().ok().map(|d| d as usize)
        };
        let dims = (width(model.inputs.first()), width(model.inputs.get(1)), width(model.outputs.first()));
        let (Some(sd), Some(gd), Some(ad)) = dims else {
            return Err("the ONNX graph is not a deepcrl actor export (inputs state and goal, output action)".into());
        };
        let plan = model.into_optimized().and_then(|m| m.into_runnable()).map_err(|e| e.to_string())?;
        let checkpoint = path.to_path_buf();
        Ok(Student { checkpoint, sha256: hex_sha256(&bytes), dims: (sd, gd, ad), backend: Backend::Onnx(plan) })
    }

    /// Refuses a contract whose controller is another file, or whose sizes are not this student's.
    pub fn check(&self, contract: &Contract) -> Result<()> {
        let server = &contract.controller;
        let (theirs_sha, server_file) = match self.backend {
            Backend::Native(_) => (Some(&server.sha256), server.checkpoint.clone()),
            #[cfg(feature = "onnx")]
            Backend::Onnx(_) => (
                server.onnx_sha256.as_ref(),
                Path::new(&server.checkpoint).with_extension("onnx").display().to_string(),
            ),
        };
        if theirs_sha != Some(&self.sha256) {
            return Err(RobotError::ModelMismatch {
                student: self.checkpoint.clone(),
                sha256: self.sha256.clone(),
                server: server_file,
                server_sha256: theirs_sha.cloned().unwrap_or_else(|| "none: the server has no ONNX export".into()),
            });
        }
        let theirs = (contract.state_dim, contract.goal_dim, contract.action_dim);
        if self.dims != theirs {
            return Err(RobotError::Student {
                path: self.checkpoint.clone(),
                why: format!("its (state, goal, action) sizes are {:?}, the server's {theirs:?}", self.dims),
            });
        }
        Ok(())
    }

    /// A policy for one robot.
    pub fn policy(&self) -> Policy {
        match &self.backend {
            Backend::Native(model) => Policy::Native(Box::new(ActorInfer::new(model))),
            #[cfg(feature = "onnx")]
            Backend::Onnx(plan) => Policy::Onnx { plan: plan.clone(), state_dim: self.dims.0, goal_dim: self.dims.1 },
        }
    }
}
