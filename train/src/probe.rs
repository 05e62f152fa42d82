//! `--probe-every N`: every N SGD steps, one line of `probe.jsonl` with the actor's insides at that
//! update ([`models::fast::probe::ActorProbe`]: the residual stream's scale, the heads' saturation,
//! which way the critic and the entropy term pull log σ, the gradient per block, how far the step
//! moved the log σ head), beside the update's own scalars. For studying deep actors (issue 26); the
//! `probe_plot` example draws runs' files side by side.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use models::fast::probe::ActorProbe;
use models::{CrlBatch, CrlStats};
use serde::{Deserialize, Serialize};

use crate::error::{bail, Context, Result};
use crate::updater::Updater;

/// The file in the run directory.
pub const FILE: &str = "probe.jsonl";

/// One line of `probe.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProbeRow {
    pub sgd_steps: u64,
    pub env_steps: u64,
    pub actor_loss: f32,
    pub alpha: f32,
    pub entropy: f32,
    pub critic_loss: f32,
    #[serde(flatten)]
    pub probe: ActorProbe,
}

/// The open `probe.jsonl` of a run that asked for it.
pub struct ProbeLog {
    every: u64,
    path: PathBuf,
    out: BufWriter<File>,
}

impl ProbeLog {
    /// `None` when `every` is 0. Checks that the run can be probed: the fused CPU path, one process.
    /// A run resumed at `resumed_at` SGD steps drops the rows its killed predecessor wrote after
    /// that checkpoint (they are taken again) and appends.
    pub fn open(
        every: u64,
        dir: &Path,
        trainer: &Updater,
        ranks: usize,
        resumed_at: Option<u64>,
    ) -> Result<Option<Self>> {
        if every == 0 {
            return Ok(None);
        }
        if !matches!(trainer, Updater::Fast(_)) || ranks > 1 {
            bail!(
                "--probe-every reads the fused CPU step's buffers: it needs --device cpu with --backend auto or fast, \
                 in one process (got the {}{})",
                trainer.describe(),
                if ranks > 1 { format!(" on {ranks} ranks") } else { String::new() }
            );
        }
        let path = dir.join(FILE);
        let resume = resumed_at.is_some();
        if let (Some(at), true) = (resumed_at, path.is_file()) {
            crate::metrics::repair_torn_tail(&path)?;
            let kept: Vec<String> = read(&path)?
                .iter()
                .filter(|r| r.sgd_steps <= at)
                .map(serde_json::to_string)
                .collect::<std::result::Result<_, _>>()
                .context("encoding a probe row")?;
            let text = kept.iter().map(|l| format!("{l}\n")).collect::<String>();
            models::atomic::write_bytes_atomic(&path, text.as_bytes())?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(resume)
            .write(!resume)
            .truncate(!resume)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Some(ProbeLog { every, path, out: BufWriter::new(file) }))
    }

    /// After SGD step number `sgd_steps` (counted from 1), taken on `batch` with `stats`.
    pub fn after_step(
        &mut self,
        trainer: &mut Updater,
        batch: &CrlBatch,
        stats: &CrlStats,
        sgd_steps: u64,
        env_steps: u64,
    ) -> Result<()> {
        if !sgd_steps.is_multiple_of(self.every) {
            return Ok(());
        }
        let Updater::Fast(t) = trainer else { return Ok(()) };
        let row = ProbeRow {
            sgd_steps,
            env_steps,
            actor_loss: stats.actor_loss,
            alpha: stats.alpha,
            entropy: stats.entropy,
            critic_loss: stats.critic_loss,
            probe: t.probe_actor(batch)?,
        };
        let line = serde_json::to_string(&row).context("encoding a probe row")?;
        writeln!(self.out, "{line}").with_context(|| format!("writing {}", self.path.display()))
    }

    /// Flushed at every checkpoint, so a killed run keeps its probe rows up to there.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().with_context(|| format!("writing {}", self.path.display()))
    }
}

/// Reads a `probe.jsonl`, naming the line that does not parse.
pub fn read(path: &Path) -> Result<Vec<ProbeRow>> {
    crate::metrics::read_jsonl(path, "a probe row")
}
