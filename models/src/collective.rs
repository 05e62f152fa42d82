//! The collective operations data-parallel training needs, behind one trait: MPI implements it in
//! `train` (its `mpi` feature), [`Solo`] is the one-process case, and [`LocalGroup`] runs ranks as
//! threads of one process, so the exactness of the data-parallel update is tested without MPI.
//!
//! Every rank calls the same operations in the same order with buffers of the same length, as MPI
//! requires; the results are identical on every rank, so parameters updated from them stay equal.

use std::sync::{Arc, Barrier, Mutex, PoisonError};

use crate::error::{ModelError, Result};

pub trait Collective {
    fn rank(&self) -> usize;
    fn size(&self) -> usize;
    /// Every rank's `local` (all of one length) concatenated in rank order into `out`.
    fn all_gather(&mut self, local: &[f32], out: &mut [f32]) -> Result<()>;
    /// `buf` ← the elementwise sum of every rank's `buf`.
    fn all_reduce_sum(&mut self, buf: &mut [f32]) -> Result<()>;
    fn all_reduce_sum_f64(&mut self, buf: &mut [f64]) -> Result<()>;
    /// `buf` ← rank `root`'s `buf` (all of one length).
    fn broadcast(&mut self, buf: &mut [u8], root: usize) -> Result<()>;
}

/// One process alone: every collective is the identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct Solo;

impl Collective for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_gather(&mut self, local: &[f32], out: &mut [f32]) -> Result<()> {
        out.copy_from_slice(local);
        Ok(())
    }
    fn all_reduce_sum(&mut self, _: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn all_reduce_sum_f64(&mut self, _: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn broadcast(&mut self, _: &mut [u8], _: usize) -> Result<()> {
        Ok(())
    }
}

/// What the threads of a [`LocalGroup`] share: one slot per rank and a barrier.
struct Shared {
    barrier: Barrier,
    /// Values travel as f64, which holds an f32 or a byte exactly.
    slots: Mutex<Vec<Vec<f64>>>,
}

/// Ranks as threads of one process (for tests): hand one [`LocalRank`] to each thread.
pub struct LocalGroup;

impl LocalGroup {
    #[allow(clippy::new_ret_no_self)] // a group is only ever used through its ranks
    pub fn new(size: usize) -> Vec<LocalRank> {
        let shared = Arc::new(Shared { barrier: Barrier::new(size), slots: Mutex::new(vec![Vec::new(); size]) });
        (0..size).map(|rank| LocalRank { rank, size, shared: Arc::clone(&shared) }).collect()
    }
}

/// One rank of a [`LocalGroup`].
pub struct LocalRank {
    rank: usize,
    size: usize,
    shared: Arc<Shared>,
}

impl LocalRank {
    /// Puts `local` in this rank's slot and returns every rank's, once all have arrived.
    fn exchange(&self, local: impl Iterator<Item = f64>) -> Result<Vec<Vec<f64>>> {
        let poisoned = |_: PoisonError<_>| ModelError::Collective("a rank thread panicked".into());
        self.shared.slots.lock().map_err(poisoned)?[self.rank] = local.collect();
        self.shared.barrier.wait();
        let all = self.shared.slots.lock().map_err(poisoned)?.clone();
        // No rank may overwrite its slot for the next operation before every rank has read this one.
        self.shared.barrier.wait();
        if all.iter().any(|s| s.len() != all[0].len()) {
            return Err(ModelError::Collective("ranks passed buffers of different lengths".into()));
        }
        Ok(all)
    }
}

impl Collective for LocalRank {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_gather(&mut self, local: &[f32], out: &mut [f32]) -> Result<()> {
        let all = self.exchange(local.iter().map(|&v| f64::from(v)))?;
        for (dst, v) in out.iter_mut().zip(all.iter().flatten()) {
            *dst = *v as f32;
        }
        Ok(())
    }
    fn all_reduce_sum(&mut self, buf: &mut [f32]) -> Result<()> {
        let all = self.exchange(buf.iter().map(|&v| f64::from(v)))?;
        // Summed in f32, in rank order: the arithmetic of an MPI_SUM on floats, the same on every rank.
        for (i, dst) in buf.iter_mut().enumerate() {
            *dst = all.iter().fold(0f32, |acc, s| acc + s[i] as f32);
        }
        Ok(())
    }
    fn all_reduce_sum_f64(&mut self, buf: &mut [f64]) -> Result<()> {
        let all = self.exchange(buf.iter().copied())?;
        for (i, dst) in buf.iter_mut().enumerate() {
            *dst = all.iter().fold(0f64, |acc, s| acc + s[i]);
        }
        Ok(())
    }
    fn broadcast(&mut self, buf: &mut [u8], root: usize) -> Result<()> {
        let all = self.exchange(buf.iter().map(|&v| f64::from(v)))?;
        for (dst, v) in buf.iter_mut().zip(&all[root]) {
            *dst = *v as u8;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_group_gathers_in_rank_order_and_sums_the_same_on_every_rank() {
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = LocalGroup::new(3)
                .into_iter()
                .map(|mut c| {
                    s.spawn(move || {
                        let r = c.rank() as f32;
                        let mut all = vec![0f32; 6];
                        c.all_gather(&[r, r + 0.5], &mut all).unwrap();
                        let mut sum = vec![r, 1.0];
                        c.all_reduce_sum(&mut sum).unwrap();
                        let mut word = [c.rank() as u8; 2];
                        c.broadcast(&mut word, 1).unwrap();
                        (all, sum, word)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (all, sum, word) in results {
            assert_eq!(all, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
            assert_eq!(sum, [3.0, 3.0]);
            assert_eq!(word, [1, 1]);
        }
    }
}
