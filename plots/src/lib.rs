//! deepcrl `plots`: pictures of environments, written atomically as PNG files.
//!
//! - [`maze`]: walls, start, goals and evaluation paths of the maze family (DESIGN.md section 4).
//!
//! Plotting lives outside `envs` so a robot client that links `envs` builds without freetype,
//! fontconfig or image codecs (and cross-compiles for an aarch64 robot).

pub mod maze;

pub use maze::plot_maze_trajectories;

use std::path::PathBuf;

/// A plot that could not be drawn or written: the file and why.
#[derive(Debug, thiserror::Error)]
#[error("plot {}: {msg}", .path.display())]
pub struct PlotError {
    pub path: PathBuf,
    pub msg: String,
}
