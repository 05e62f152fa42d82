//! Launch geometry: how each kernel's grid and blocks are sized, and which shapes it accepts. The
//! CUDA device and the CPU execution both launch through these, so a shape that works on one works
//! on the other.

use crate::{KernelError, Result};

/// Columns a thread of a row kernel keeps in registers (`DEEPCRL_COLS_PER_THREAD` in common.cuh).
pub const COLS_PER_THREAD: usize = 4;
/// The largest block (`DEEPCRL_MAX_BLOCK`): widths up to 4 × 1024 = 4096 columns.
pub const MAX_BLOCK: usize = 1024;
pub const MAX_WIDTH: usize = COLS_PER_THREAD * MAX_BLOCK;
/// Rows one block of `ln_silu_backward` walks: at batch 512, 128 blocks, about one per SM of an
/// H100 (132), each writing one `[3, width]` partial sum.
pub const BACKWARD_ROWS_PER_BLOCK: usize = 4;
/// Threads per block of the element-wise kernels.
pub const ELEMENTWISE_BLOCK: usize = 256;

/// A 1-D launch: `grid` blocks of `block` threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Launch {
    pub grid: u32,
    pub block: u32,
}

/// Threads per block of the row kernels for rows of `width`: one column per thread up to 256
/// threads, then up to four per thread; a power of two (the block sums halve it), at least a warp.
pub fn row_block(kernel: &'static str, width: usize) -> Result<u32> {
    if width == 0 || width > MAX_WIDTH {
        return Err(KernelError::Shape { kernel, msg: format!("width {width}: must be in 1..={MAX_WIDTH}") });
    }
    let threads = if width <= 256 { width } else { width.div_ceil(COLS_PER_THREAD).max(256) };
    Ok(threads.next_power_of_two().clamp(32, MAX_BLOCK) as u32)
}

/// A row kernel with one block per row of `width` (`ln_silu_forward`, `infonce_rows`).
pub fn per_row(kernel: &'static str, rows: usize, width: usize) -> Result<Launch> {
    Ok(Launch { grid: grid(kernel, rows)?, block: row_block(kernel, width)? })
}

/// `ln_silu_forward`: one block per row.
pub fn ln_forward(rows: usize, width: usize) -> Result<Launch> {
    per_row("ln_silu_forward", rows, width)
}

/// `ln_silu_backward`: blocks of [`BACKWARD_ROWS_PER_BLOCK`] rows; the grid is also the number of
/// partial sums `sum_partials` adds.
pub fn ln_backward(rows: usize, width: usize) -> Result<Launch> {
    let blocks = rows.div_ceil(BACKWARD_ROWS_PER_BLOCK);
    Ok(Launch { grid: grid("ln_silu_backward", blocks)?, block: row_block("ln_silu_backward", width)? })
}

/// An element-wise kernel over `n` items.
pub fn elementwise(kernel: &'static str, n: usize) -> Result<Launch> {
    Ok(Launch { grid: grid(kernel, n.div_ceil(ELEMENTWISE_BLOCK))?, block: ELEMENTWISE_BLOCK as u32 })
}

fn grid(kernel: &'static str, blocks: usize) -> Result<u32> {
    // CUDA allows 2³¹ − 1 blocks in x; a count of zero is not a launch.
    match u32::try_from(blocks) {
        Ok(b) if b > 0 && b < i32::MAX as u32 => Ok(b),
        _ => Err(KernelError::Shape { kernel, msg: format!("{blocks} blocks: must be in 1..2^31") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_blocks_cover_the_width_in_powers_of_two() {
        for (w, want) in [(1, 32), (64, 64), (100, 128), (256, 256), (257, 256), (1024, 256), (1025, 512), (4096, 1024)]
        {
            let b = row_block("k", w).unwrap() as usize;
            assert_eq!(b, want, "width {w}");
            assert!(b * COLS_PER_THREAD >= w);
        }
        assert!(row_block("k", 0).is_err());
        assert!(row_block("k", MAX_WIDTH + 1).unwrap_err().to_string().contains("4096"));
        assert!(ln_forward(0, 64).is_err());
        assert_eq!(ln_backward(37, 64).unwrap().grid, 10);
    }
}
