//! From a path a user typed to the files behind it, by one rule.
//!
//! A path names a checkpoint: the file itself, or the first of [`CHECKPOINT_NAMES`] in a directory.
//! Its *lineage* is that checkpoint, then the checkpoint its metadata records as `parent`, then that
//! one's parent, and so on ([`MAX_GENERATIONS`] at most: a pruned model of a student of a teacher is
//! three). Each file the stages look for beside a model, the training run's `config.toml`, the
//! waypoint bank, is the first one found beside a checkpoint of the lineage.

use std::path::{Path, PathBuf};

use models::ModelConfig;

use crate::error::{Result, RunDirError};
use crate::layout::{BANK, CHECKPOINT_NAMES, CONFIG};

/// How many checkpoints a lineage follows (the named one included).
pub const MAX_GENERATIONS: usize = 8;

/// The checkpoint a `--teacher`/`--model`/`--planner` path names: the file itself, or the model file
/// in a directory.
pub fn checkpoint_in(path: &Path) -> Result<PathBuf> {
    if !path.exists() {
        return Err(RunDirError::Missing(path.to_path_buf()));
    }
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    CHECKPOINT_NAMES
        .iter()
        .map(|n| path.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| RunDirError::NoCheckpoint(path.to_path_buf()))
}

/// A checkpoint and its ancestors, nearest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lineage {
    pub checkpoints: Vec<PathBuf>,
}

impl Lineage {
    /// The lineage of `checkpoint`, whose config (already loaded) is `cfg`. Ancestors are read header
    /// only; one that is missing or unreadable ends the chain (a run directory may have been moved).
    pub fn of(checkpoint: &Path, cfg: &ModelConfig) -> Self {
        let mut checkpoints = vec![checkpoint.to_path_buf()];
        let mut parent = cfg.parent.clone();
        while checkpoints.len() < MAX_GENERATIONS {
            let Some(next) = parent.take().map(PathBuf::from) else { break };
            if checkpoints.contains(&next) {
                break; // a copied file that names itself as its parent
            }
            parent = models::checkpoint::read_config(&next).ok().and_then(|c| c.parent);
            checkpoints.push(next);
        }
        Lineage { checkpoints }
    }

    /// The first `name` beside a checkpoint of the lineage.
    pub fn find_beside(&self, name: &str) -> Option<PathBuf> {
        self.checkpoints.iter().filter_map(|c| c.parent()).map(|d| d.join(name)).find(|p| p.is_file())
    }

    fn not_found(&self, name: &'static str, why: &'static str) -> RunDirError {
        let searched: Vec<String> = self
            .checkpoints
            .iter()
            .filter_map(|c| c.parent())
            .map(|d| if d.as_os_str().is_empty() { ".".into() } else { d.display().to_string() })
            .collect();
        RunDirError::NotFound {
            checkpoint: self.checkpoints[0].clone(),
            name,
            searched: format!("searched {}", searched.join(", ")),
            why,
        }
    }
}

/// The training run behind a checkpoint: the directory of the first `config.toml` along its lineage.
pub fn find_run(lineage: &Lineage) -> Option<PathBuf> {
    lineage.find_beside(CONFIG).and_then(|p| p.parent().map(Path::to_path_buf))
}

/// The waypoint bank behind a planner's checkpoint: the first `bank.safetensors` along its lineage.
pub fn find_bank(lineage: &Lineage) -> Result<PathBuf> {
    lineage.find_beside(BANK).ok_or_else(|| {
        lineage.not_found(BANK, "train writes it at the end of a run; the planner searches over its states")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{RunDir, STUDENT};
    use models::Model;

    fn save(path: &Path, parent: Option<&Path>) -> ModelConfig {
        let mut cfg = ModelConfig::point_maze(4).with_width(8);
        cfg.parent = parent.map(|p| p.display().to_string());
        models::checkpoint::save(&Model::init(&cfg, 0).unwrap(), path).unwrap();
        cfg
    }

    #[test]
    fn missing_paths_and_directories_say_what_to_pass() {
        let dir = tempfile::tempdir().unwrap();
        let e = checkpoint_in(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(e.contains("does not exist") && e.contains("runs/NAME"), "{e}");
        let e = checkpoint_in(dir.path()).unwrap_err().to_string();
        assert!(e.contains("no teacher.safetensors") && e.contains("students/ID"), "{e}");
    }

    #[test]
    fn the_run_and_bank_of_a_pruned_student_are_found_three_generations_up() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path().join("run"));
        save(&run.teacher(), None);
        std::fs::write(run.config(), "").unwrap();
        std::fs::write(run.bank(), "").unwrap();
        let student = run.student("s").checkpoint();
        save(&student, Some(&run.teacher()));
        let pruned = crate::layout::pruned_dir(&student, "p").checkpoint();
        let cfg = save(&pruned, Some(&student));

        assert_eq!(checkpoint_in(pruned.parent().unwrap()).unwrap(), pruned, "{STUDENT} is found in its directory");
        let lineage = Lineage::of(&pruned, &cfg);
        assert_eq!(lineage.checkpoints, [pruned.clone(), student, run.teacher()]);
        assert_eq!(find_run(&lineage), Some(run.dir.clone()));
        assert_eq!(find_bank(&lineage).unwrap(), run.bank());
    }

    #[test]
    fn a_lineage_stops_at_a_missing_parent_and_at_a_cycle() {
        let dir = tempfile::tempdir().unwrap();
        let lonely = dir.path().join("a/student.safetensors");
        let cfg = save(&lonely, Some(&dir.path().join("moved/teacher.safetensors")));
        let lineage = Lineage::of(&lonely, &cfg);
        assert_eq!(lineage.checkpoints.len(), 2, "the missing parent is searched beside, then the chain ends");
        assert_eq!(find_run(&lineage), None);
        let e = find_bank(&lineage).unwrap_err().to_string();
        assert!(e.contains("no bank.safetensors") && e.contains("moved"), "{e}");

        let selfish = dir.path().join("b/student.safetensors");
        let cfg = save(&selfish, Some(&selfish));
        assert_eq!(Lineage::of(&selfish, &cfg).checkpoints, [selfish]);
    }
}
