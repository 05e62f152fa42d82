//! [`Collective`] over the system's MPI (the `mpi` feature): what `--distributed mpi` trains on,
//! launched by `mpirun -np N` or Slurm's `srun`. MPI itself has no timeouts, so a watchdog thread
//! ends the process when one collective waits longer than `--rank-timeout`; the launcher then ends
//! the job.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use models::collective::Collective;
use models::{ModelError, Result as ModelResult};
use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Equivalence, Root};
use mpi::Threading;

use crate::error::{bail, Result};

/// The environment variables a launcher sets: OpenMPI's mpirun, PMI (MPICH's hydra, Slurm's PMI2)
/// and PMIx (Slurm's `srun --mpi=pmix`, OpenMPI 5).
const LAUNCHER_VARS: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"];

/// The exit code of a rank the watchdog stopped.
pub const TIMED_OUT: i32 = 124;

pub struct MpiComm {
    world: SimpleCommunicator,
    scratch_f32: Vec<f32>,
    scratch_f64: Vec<f64>,
    /// Milliseconds since `epoch` at which the current collective began; 0 outside one.
    entered: Arc<AtomicU64>,
    epoch: Instant,
    /// Dropped last: finalises MPI.
    _universe: Universe,
}

impl MpiComm {
    /// Joins the job the launcher started. Outside a launcher, an error that says how to start one.
    pub fn init(timeout_s: f64) -> Result<Self> {
        if !LAUNCHER_VARS.iter().any(|v| std::env::var_os(v).is_some()) {
            bail!(
                "--distributed mpi needs an MPI launcher: start the job as `mpirun -np N target/release/train \
                 --distributed mpi ...` (or `srun` under Slurm); none of {} is set",
                LAUNCHER_VARS.join(", ")
            );
        }
        let (epoch, entered) = (Instant::now(), Arc::new(AtomicU64::new(1)));
        watchdog(Arc::clone(&entered), epoch, timeout_s);
        // Funneled: only this thread calls MPI; rayon's threads only compute.
        let Some((universe, _)) = mpi::initialize_with_threading(Threading::Funneled) else {
            bail!("MPI was already initialised in this process");
        };
        entered.store(0, Ordering::SeqCst);
        let world = universe.world();
        Ok(MpiComm { world, scratch_f32: Vec::new(), scratch_f64: Vec::new(), entered, epoch, _universe: universe })
    }

    /// Ends every rank of the job (after this rank printed why): a failed rank must not leave the
    /// others waiting in their next collective.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    /// Runs one collective under the watchdog.
    fn timed<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let now = (self.epoch.elapsed().as_millis() as u64).max(1);
        self.entered.store(now, Ordering::SeqCst);
        let out = f(self);
        self.entered.store(0, Ordering::SeqCst);
        out
    }
}

/// Ends the process when a collective (or joining the job) has waited more than `timeout_s`.
fn watchdog(entered: Arc<AtomicU64>, epoch: Instant, timeout_s: f64) {
    let limit_ms = (timeout_s * 1e3) as u64;
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(250));
        let since = entered.load(Ordering::SeqCst);
        let now = epoch.elapsed().as_millis() as u64;
        if since > 0 && now.saturating_sub(since) > limit_ms {
            eprintln!(
                "error: this rank waited more than {timeout_s} s for the other ranks (--rank-timeout): one of them \
                 cannot be reached or has stopped; ending the job. The last checkpoint is intact; continue with --resume"
            );
            std::process::exit(TIMED_OUT);
        }
    });
}

/// MPI_SUM over every rank's `buf`, into `buf` (the crate has no in-place form: `scratch` holds the
/// input).
fn sum_in_place<T: Equivalence + Copy>(world: &SimpleCommunicator, scratch: &mut Vec<T>, buf: &mut [T]) {
    scratch.clear();
    scratch.extend_from_slice(buf);
    world.all_reduce_into(&scratch[..], buf, SystemOperation::sum());
}

fn lengths_differ(what: &str) -> ModelError {
    ModelError::Collective(format!("{what}: the output buffer is not ranks × the input"))
}

impl Collective for MpiComm {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn all_gather(&mut self, local: &[f32], out: &mut [f32]) -> ModelResult<()> {
        if out.len() != local.len() * self.size() {
            return Err(lengths_differ("all-gather"));
        }
        self.timed(|c| c.world.all_gather_into(local, out));
        Ok(())
    }

    fn all_reduce_sum(&mut self, buf: &mut [f32]) -> ModelResult<()> {
        self.timed(|c| sum_in_place(&c.world, &mut c.scratch_f32, buf));
        Ok(())
    }

    fn all_reduce_sum_f64(&mut self, buf: &mut [f64]) -> ModelResult<()> {
        self.timed(|c| sum_in_place(&c.world, &mut c.scratch_f64, buf));
        Ok(())
    }

    fn broadcast(&mut self, buf: &mut [u8], root: usize) -> ModelResult<()> {
        self.timed(|c| c.world.process_at_rank(root as i32).broadcast_into(buf));
        Ok(())
    }
}
