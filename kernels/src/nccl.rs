//! NCCL on the CUDA device (the `nccl` feature): a communicator bound to the device's one stream,
//! so its all-reduce and all-gather are ordered with the kernels and can be captured in the step's
//! graph. The unique id that joins the ranks is made by rank 0 ([`unique_id`]) and passed to the
//! others by the caller (over MPI in `train`).

use cudarc::nccl::{result, sys};

use crate::cuda::{loading, CudaDevice};
use crate::device::Ptr;
use crate::{KernelError, Result};

/// The bytes of an NCCL unique id.
pub const ID_LEN: usize = 128;

fn failed(what: &str) -> impl Fn(result::NcclError) -> KernelError + '_ {
    move |e| KernelError::Device(format!("NCCL, {what}: {e:?}"))
}

/// Where NCCL comes from, for the error when it cannot be loaded.
const WHERE: &str =
    "NCCL 2.22 or later: a system NCCL, or the nvidia-nccl-cu13 wheel's nvidia/nccl/lib on LD_LIBRARY_PATH";

/// Loads NCCL (an error that says where to get it, not cudarc's panic, when it is missing).
fn load() -> Result<()> {
    loading("NCCL (libnccl.so.2)", result::get_nccl_version)
        .map_err(|e| match e {
            KernelError::Device(m) => KernelError::Device(format!("{m}; {WHERE}")),
            other => other,
        })?
        .map_err(failed("reading its version"))?;
    Ok(())
}

/// A new NCCL unique id (rank 0 makes it; every rank joins with the same).
pub fn unique_id() -> Result<[u8; ID_LEN]> {
    load()?;
    let id = result::get_uniqueid().map_err(failed("making a unique id"))?;
    Ok(id.internal.map(|c| c as u8))
}

/// One rank's communicator.
pub struct Nccl {
    comm: sys::ncclComm_t,
    rank: usize,
    size: usize,
}

impl Nccl {
    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn size(&self) -> usize {
        self.size
    }
}

impl Drop for Nccl {
    fn drop(&mut self) {
        // SAFETY: `comm` came from a successful ncclCommInitRank and is destroyed once, here.
        let _ = unsafe { result::comm_destroy(self.comm) };
    }
}

impl CudaDevice {
    /// Joins `size` ranks as `rank`, all with rank 0's `id` (a collective call: every rank must
    /// make it).
    pub fn nccl(&self, id: [u8; ID_LEN], rank: usize, size: usize) -> Result<Nccl> {
        let bad = |what: &str, v: usize| KernelError::Device(format!("NCCL: {what} {v} does not fit a C int"));
        let (r, n) =
            (i32::try_from(rank).map_err(|_| bad("rank", rank))?, i32::try_from(size).map_err(|_| bad("size", size))?);
        self.bind()?;
        let id = sys::ncclUniqueId { internal: id.map(|b| b as _) };
        load()?;
        let mut comm = std::mem::MaybeUninit::uninit();
        // SAFETY: `comm` is written by a successful call before it is read.
        let comm = unsafe {
            result::comm_init_rank(comm.as_mut_ptr(), n, id, r).map_err(failed("joining the ranks"))?;
            comm.assume_init()
        };
        Ok(Nccl { comm, rank, size })
    }

    /// The sum over ranks of `len` values at `buf`, in place, on the device's stream.
    pub fn nccl_all_reduce_sum(&mut self, nccl: &Nccl, buf: Ptr, len: usize) -> Result<()> {
        crate::device::check_range(self, "all-reduce buffer", "ncclAllReduce", buf, len)?;
        let at = self.addr(buf)?;
        // SAFETY: the range lies inside a live allocation (checked above) and the call is ordered on
        // this device's stream, behind the kernels that wrote it.
        unsafe {
            result::all_reduce(
                at as _,
                at as _,
                len,
                sys::ncclDataType_t::ncclFloat32,
                sys::ncclRedOp_t::ncclSum,
                nccl.comm,
                self.stream_handle() as _,
            )
        }
        .map_err(failed("all-reduce"))?;
        Ok(())
    }

    /// Every rank's `len` values at `src` into `dst` (ranks × `len` values), in rank order.
    pub fn nccl_all_gather(&mut self, nccl: &Nccl, src: Ptr, dst: Ptr, len: usize) -> Result<()> {
        crate::device::check_range(self, "all-gather source", "ncclAllGather", src, len)?;
        crate::device::check_range(self, "all-gather destination", "ncclAllGather", dst, len * nccl.size)?;
        let (s, d) = (self.addr(src)?, self.addr(dst)?);
        // SAFETY: both ranges lie inside live allocations (checked above); ordered on the stream.
        unsafe {
            result::all_gather(
                s as _,
                d as _,
                len,
                sys::ncclDataType_t::ncclFloat32,
                nccl.comm,
                self.stream_handle() as _,
            )
        }
        .map_err(failed("all-gather"))?;
        Ok(())
    }
}
