//! The collective a `train` process runs on, from `--distributed`: alone, or a rank of an MPI job.

use models::collective::{Collective, Solo};

use crate::cli::Distributed;
use crate::error::Result;

pub enum Comm {
    Solo(Solo),
    #[cfg(feature = "mpi")]
    Mpi(Box<crate::mpi_comm::MpiComm>),
}

impl Comm {
    /// Joins the job `distributed` names; a build without its feature gets an error naming the fix.
    pub fn open(distributed: Distributed, rank_timeout_s: f64) -> Result<Self> {
        match distributed {
            Distributed::None => Ok(Comm::Solo(Solo)),
            #[cfg(feature = "mpi")]
            Distributed::Mpi => Ok(Comm::Mpi(Box::new(crate::mpi_comm::MpiComm::init(rank_timeout_s)?))),
            #[cfg(not(feature = "mpi"))]
            Distributed::Mpi => {
                let _ = rank_timeout_s;
                crate::error::bail!(
                    "--distributed mpi: this train was built without MPI; run `bash scripts/mpi.sh`, then build \
                     with `cargo build --release -p train --features mpi`"
                )
            }
        }
    }

    pub fn as_dyn(&mut self) -> &mut dyn Collective {
        match self {
            Comm::Solo(s) => s,
            #[cfg(feature = "mpi")]
            Comm::Mpi(m) => m.as_mut(),
        }
    }

    pub fn rank(&mut self) -> usize {
        self.as_dyn().rank()
    }

    pub fn size(&mut self) -> usize {
        self.as_dyn().size()
    }

    /// After this rank failed: ends every rank of the job (they would wait for it in their next
    /// exchange). Alone, it returns.
    pub fn abort_job(&self, code: i32) {
        #[cfg(feature = "mpi")]
        if let Comm::Mpi(m) = self {
            m.abort(code);
        }
        let _ = code;
    }
}
