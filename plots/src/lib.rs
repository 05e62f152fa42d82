//! deepcrl `plots`: pictures of environments, written atomically as PNG files.
//!
//! - [`maze`]: walls, start, goals and evaluation paths of the maze family (DESIGN.md section 4).
//! - [`field`]: evaluation paths on open ground (the MuJoCo robots without a maze).
//! - [`render_png`]: the atomic writer every stage's pictures (curves, reports) go through.
//!
//! Plotting lives outside `envs` so a robot client that links `envs` builds without freetype,
//! fontconfig or image codecs (and cross-compiles for an aarch64 robot).

pub mod field;
pub mod maze;

pub use field::plot_field_trajectories;
pub use maze::plot_maze_trajectories;

use std::path::{Path, PathBuf};

/// A plot that could not be drawn or written: the file and why.
#[derive(Debug, thiserror::Error)]
#[error("plot {}: {msg}", .path.display())]
pub struct PlotError {
    pub path: PathBuf,
    pub msg: String,
}

/// What a drawing function returns: plotters' errors, boxed (their type names the backend).
pub type DrawResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Renders a picture with `draw` into a temporary file beside `path`, then renames it into place, so a
/// reader never sees half a PNG. Every stage draws its pictures through this.
pub fn render_png(path: &Path, draw: impl FnOnce(&Path) -> DrawResult) -> Result<(), PlotError> {
    let err = |msg: String| PlotError { path: path.to_path_buf(), msg };
    models::atomic::render_atomic(path, |tmp| draw(tmp).map_err(std::io::Error::other)).map_err(|e| err(e.to_string()))
}
