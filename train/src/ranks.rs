//! What the ranks of a data-parallel run (`--distributed mpi`) agree on, over the collective that
//! carries their updates ([`models::collective`]): rank 0 holds the run directory and decides;
//! every other rank trains on its own environments and follows.
//!
//! - at start: the same configuration on every rank (a hash, compared), then rank 0's model and
//!   optimiser state (a fresh model or a resumed one) and its counters;
//! - every round: whether to evaluate, to stop (time budget, stop rule, Ctrl-C on any rank);
//! - now and then: a checksum of the parameters, which the exact update keeps identical.

use std::hash::{Hash, Hasher};

use models::collective::Collective;
use models::Adam;

use crate::error::{bail, Result};
use envs::seed::derive;

/// SGD steps between two parameter checksums (and at every evaluation).
pub const CHECK_EVERY: u64 = 256;

pub struct Ranks<'a> {
    comm: &'a mut dyn Collective,
}

impl<'a> Ranks<'a> {
    pub fn new(comm: &'a mut dyn Collective) -> Self {
        Ranks { comm }
    }

    pub fn comm(&mut self) -> &mut dyn Collective {
        &mut *self.comm
    }

    pub fn size(&self) -> usize {
        self.comm.size()
    }

    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    /// This rank's place among the ranks on its node, from the launcher (Open MPI, MPICH, Slurm); 0
    /// when none says.
    pub fn local_rank(&self) -> usize {
        ["OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID", "PMI_LOCAL_RANK"]
            .iter()
            .find_map(|v| std::env::var(v).ok()?.parse().ok())
            .unwrap_or(0)
    }

    /// Whether this rank writes the run directory, evaluates and prints.
    pub fn is_root(&self) -> bool {
        self.comm.rank() == 0
    }

    /// A seed of this rank's own: rank 0 (and a run without ranks) keeps `seed` itself.
    pub fn seed(&self, seed: u64) -> u64 {
        match self.rank() {
            0 => seed,
            r => derive(seed, 0xD157_0000 + r as u64),
        }
    }

    /// Refuses ranks started with different configurations: rank 0's hash of `config` against each.
    pub fn check_same_config(&mut self, config: &str) -> Result<()> {
        let mine = hash_of(config.as_bytes());
        let root = self.share_u64s(&[mine])?[0];
        let differs = self.count(root != mine)?;
        if differs > 0 {
            bail!(
                "{differs} of {} ranks were started with a configuration other than rank 0's (config hash {root:016x}; \
                 this rank's {mine:016x}): start every rank with the same flags, --config file and build",
                self.size()
            );
        }
        Ok(())
    }

    /// How many ranks pass `flag` true.
    pub fn count(&mut self, flag: bool) -> Result<usize> {
        let mut v = [f64::from(u8::from(flag))];
        self.comm.all_reduce_sum_f64(&mut v)?;
        Ok(v[0] as usize)
    }

    /// Rank 0's `values` on every rank.
    pub fn share_u64s(&mut self, values: &[u64]) -> Result<Vec<u64>> {
        let mut bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.comm.broadcast(&mut bytes, 0)?;
        Ok(bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())).collect())
    }

    /// Rank 0's floats into `values` on every rank.
    pub fn share_f32s(&mut self, values: &mut [f32]) -> Result<()> {
        let mut bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.comm.broadcast(&mut bytes, 0)?;
        for (v, c) in values.iter_mut().zip(bytes.chunks_exact(4)) {
            *v = f32::from_le_bytes(c.try_into().unwrap_or_default());
        }
        Ok(())
    }

    /// Rank 0's parameters and Adam state on every rank (a resumed run's, or a fresh one's, so the
    /// ranks never depend on building the same initialisation).
    pub fn share_state(&mut self, params: &mut [f32], adam: &mut Adam) -> Result<()> {
        self.share_f32s(params)?;
        self.share_f32s(&mut adam.m)?;
        self.share_f32s(&mut adam.v)?;
        adam.t = self.share_u64s(&[adam.t])?[0];
        Ok(())
    }

    /// Stops the job when any rank's parameters differ from rank 0's.
    pub fn check_params(&mut self, params: &[f32], sgd_steps: u64) -> Result<()> {
        // Hashed value by value: a byte copy of the parameters would be 815 MB at depth 1024.
        let mut h = std::hash::DefaultHasher::new();
        params.iter().for_each(|v| h.write_u32(v.to_bits()));
        let mine = h.finish();
        let root = self.share_u64s(&[mine])?[0];
        let differs = self.count(root != mine)?;
        if differs > 0 {
            bail!(
                "the parameters of {differs} of {} ranks diverged from rank 0's by SGD step {sgd_steps}: every rank \
                 applies the same summed gradients, so this means an all-reduce that gave ranks different sums or \
                 ranks of different builds; run every rank on one build. The last checkpoint is intact; continue \
                 with --resume",
                self.size()
            );
        }
        Ok(())
    }
}

/// SipHash with fixed keys: the same on every rank of one build.
fn hash_of(bytes: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}
