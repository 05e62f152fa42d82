//! The files of a run directory (DESIGN.md section 5) and of a student or pruned-model directory
//! (sections 6 and 7), named once here so no stage spells a file name of its own.
//!
//! ```text
//! runs/<name>/                      RunDir: written by `train`
//!   students/<id>/                  ModelDir: written by `distill` (its from-scratch baseline in baseline/)
//!   pruned/<id>/                    ModelDir: written by `prune`
//! ```

use std::path::{Path, PathBuf};

/// The checkpoint names a model directory may hold, in the order they are looked for.
pub const CHECKPOINT_NAMES: [&str; 2] = [TEACHER, STUDENT];
/// A training run's checkpoint.
pub const TEACHER: &str = "teacher.safetensors";
/// A student's or pruned model's checkpoint.
pub const STUDENT: &str = "student.safetensors";
/// A training run's resolved configuration; its presence marks a directory as a training run.
pub const CONFIG: &str = "config.toml";
/// The planner's waypoint bank, written at the end of a training run.
pub const BANK: &str = "bank.safetensors";
/// The server's cached planning graph, beside the planner's checkpoint.
pub const PLAN_GRAPH: &str = "plan_graph.safetensors";
/// The lock file a writing process holds.
pub const LOCK: &str = ".lock";

/// A training run's directory and the files `train` writes into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    pub dir: PathBuf,
}

impl RunDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RunDir { dir: dir.into() }
    }
    pub fn teacher(&self) -> PathBuf {
        self.dir.join(TEACHER)
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join(CONFIG)
    }
    pub fn train_state(&self) -> PathBuf {
        self.dir.join("train_state.safetensors")
    }
    pub fn bank(&self) -> PathBuf {
        self.dir.join(BANK)
    }
    /// With `--save-replay`: the replay buffer, environments and collector at the last checkpoint.
    pub fn collection(&self) -> PathBuf {
        self.dir.join("collection.safetensors")
    }
    /// The next [`RunDir::collection`], written before the train state that commits it.
    pub fn collection_next(&self) -> PathBuf {
        self.dir.join("collection.next.safetensors")
    }
    pub fn metrics_jsonl(&self) -> PathBuf {
        self.dir.join("metrics.jsonl")
    }
    pub fn metrics_csv(&self) -> PathBuf {
        self.dir.join("metrics.csv")
    }
    pub fn eval_json(&self) -> PathBuf {
        self.dir.join("eval.json")
    }
    pub fn curves(&self) -> PathBuf {
        self.dir.join("curves.png")
    }
    pub fn trajectories(&self) -> PathBuf {
        self.dir.join("trajectories.png")
    }
    /// Where `distill` puts the student `id` of this run.
    pub fn student(&self, id: &str) -> ModelDir {
        ModelDir::new(self.dir.join("students").join(id))
    }
    /// Whether the directory holds a run that a fresh start would overwrite: a checkpoint or a train
    /// state (a run killed before its first checkpoint has nothing to lose). Returns what was found.
    pub fn existing_run(&self) -> Vec<&'static str> {
        [(TEACHER, self.teacher()), ("train_state.safetensors", self.train_state())]
            .into_iter()
            .filter(|(_, p)| p.is_file())
            .map(|(name, _)| name)
            .collect()
    }
}

/// A student's or pruned model's directory and the files `distill` and `prune` write into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelDir {
    pub dir: PathBuf,
}

impl ModelDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ModelDir { dir: dir.into() }
    }
    pub fn checkpoint(&self) -> PathBuf {
        self.dir.join(STUDENT)
    }
    pub fn onnx(&self) -> PathBuf {
        self.dir.join("student.onnx")
    }
    pub fn report_json(&self) -> PathBuf {
        self.dir.join("report.json")
    }
    pub fn report_md(&self) -> PathBuf {
        self.dir.join("report.md")
    }
    pub fn report_png(&self) -> PathBuf {
        self.dir.join("report.png")
    }
    /// `distill`'s from-scratch baseline: a training run of its own.
    pub fn baseline(&self) -> RunDir {
        RunDir::new(self.dir.join("baseline"))
    }
    /// `distill --compare-bc`'s bc student.
    pub fn comparison(&self, method: &str) -> ModelDir {
        ModelDir::new(self.dir.join(method))
    }
}

/// Removes the temporary files a killed process left in `dir` (its targets are intact: every file is
/// written atomically, so the leftovers are only clutter).
pub fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if models::atomic::is_stale_temp(&e.file_name().to_string_lossy()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Where `prune` puts the pruned model `id` of the model at `model` (a directory, or a checkpoint file
/// whose directory is used).
pub fn pruned_dir(model: &Path, id: &str) -> ModelDir {
    let dir = if model.is_dir() { model } else { model.parent().unwrap_or(Path::new(".")) };
    ModelDir::new(dir.join("pruned").join(id))
}

/// Where `distill` puts the student `id` of the teacher at `teacher` (a run directory, or a checkpoint
/// file, whose students go under `runs/`).
pub fn student_dir(teacher: &Path, id: &str) -> ModelDir {
    let base = if teacher.is_dir() { teacher.to_path_buf() } else { PathBuf::from("runs") };
    RunDir::new(base).student(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn students_and_pruned_models_go_inside_their_run() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        assert_eq!(
            student_dir(dir.path(), "d8-dagger").checkpoint(),
            dir.path().join("students/d8-dagger/student.safetensors")
        );
        assert_eq!(run.student("x").baseline().teacher(), dir.path().join("students/x/baseline/teacher.safetensors"));
        assert_eq!(pruned_dir(dir.path(), "p").dir, dir.path().join("pruned/p"));
        assert_eq!(pruned_dir(&run.teacher(), "p").dir, dir.path().join("pruned/p"), "a file's directory is used");
        assert_eq!(student_dir(&run.teacher(), "s").dir, Path::new("runs/students/s"));
    }

    #[test]
    fn an_existing_run_is_a_checkpoint_or_a_train_state() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        std::fs::write(run.config(), "").unwrap();
        std::fs::write(run.metrics_jsonl(), "").unwrap();
        assert!(run.existing_run().is_empty(), "a run killed before its first checkpoint has nothing to lose");
        std::fs::write(run.train_state(), "").unwrap();
        assert_eq!(run.existing_run(), ["train_state.safetensors"]);
    }
}
