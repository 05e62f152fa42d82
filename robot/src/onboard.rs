//! The student on the robot: loaded from a path, identified by the SHA-256 of its file, and checked
//! against the server's contract before the robot moves, so robot and server never disagree about
//! the model that follows the plans.

use std::path::{Path, PathBuf};

use link::wire::Contract;
use models::infer::ActorInfer;
use models::Model;
use sha2::{Digest, Sha256};

use crate::error::{Result, RobotError};

/// A student checkpoint read from disk.
pub struct Student {
    /// The checkpoint file (a directory given on the command line resolves to the file in it).
    pub checkpoint: PathBuf,
    /// Hex SHA-256 of the file's bytes, as the server's contract states its controller's.
    pub sha256: String,
    model: Model,
}

impl Student {
    /// Reads the student at `path`: a `student.safetensors` file, or a student (or run) directory.
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |why: String| RobotError::Student { path: path.to_path_buf(), why };
        let checkpoint = rundir::checkpoint_in(path).map_err(|e| bad(e.to_string()))?;
        let bytes = std::fs::read(&checkpoint).map_err(|e| bad(format!("{}: {e}", checkpoint.display())))?;
        let sha256 = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        let model = models::checkpoint::load(&checkpoint).map_err(|e| bad(e.to_string()))?;
        Ok(Student { checkpoint, sha256, model })
    }

    /// Refuses a contract whose controller is another file, or whose sizes are not this student's.
    pub fn check(&self, contract: &Contract) -> Result<()> {
        let c = &self.model.cfg;
        if self.sha256 != contract.controller.sha256 {
            return Err(RobotError::ModelMismatch {
                student: self.checkpoint.clone(),
                sha256: self.sha256.clone(),
                server: contract.controller.checkpoint.clone(),
                server_sha256: contract.controller.sha256.clone(),
            });
        }
        let ours = (c.state_dim, c.goal_dim, c.action_dim);
        let theirs = (contract.state_dim, contract.goal_dim, contract.action_dim);
        if ours != theirs {
            return Err(RobotError::Student {
                path: self.checkpoint.clone(),
                why: format!("its (state, goal, action) sizes are {ours:?}, the server's {theirs:?}"),
            });
        }
        Ok(())
    }

    /// A batch-1 actor of this student, one per robot (it holds its own buffers).
    pub fn actor(&self) -> ActorInfer {
        ActorInfer::new(&self.model)
    }
}
