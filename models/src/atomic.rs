//! Atomic file writes: every file deepcrl writes goes to a temporary name in the target directory,
//! is synced, and is then renamed over the target, so a reader (or a process killed mid-write)
//! never sees half a file.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{ModelError, Result};

/// Removes the temporary file on every path out of the writer except a successful rename.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes `path` through `write` atomically, creating the parent directory if needed.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>) -> Result<()> {
    let file_name = path.file_name().ok_or_else(|| {
        ModelError::io(format!("writing {}", path.display()), io::Error::other("the path does not name a file"))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|e| ModelError::io(format!("creating directory {}", dir.display()), e))?;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp_name = format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut tmp = TempFile { path: dir.join(tmp_name), keep: false };
    let run = |tmp: &Path| -> io::Result<()> {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(tmp)?);
        write(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    };
    run(&tmp.path).map_err(|e| ModelError::io(format!("writing {}", tmp.path.display()), e))?;
    fs::rename(&tmp.path, path)
        .map_err(|e| ModelError::io(format!("renaming {} to {}", tmp.path.display(), path.display()), e))?;
    tmp.keep = true;
    // Make the rename itself durable; not every platform can open a directory, so best effort.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// [`write_atomic`] for bytes already in memory.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| io::Write::write_all(w, bytes))
}

/// [`write_atomic`] for encoders that open the file themselves and pick its format from the extension
/// (plotters' bitmap backend): `render` writes `.<name>.<pid>-<n>.tmp.<ext>` beside `path` (so the
/// extension still names the format), which is then renamed over `path`; on any failure the temporary
/// file is removed. Creates the parent directory if needed.
pub fn render_atomic<E: From<io::Error>>(
    path: &Path,
    render: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let file_name =
        path.file_name().ok_or_else(|| io::Error::other(format!("{} does not name a file", path.display())))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("creating directory {}: {e}", dir.display())))?;
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let ext = path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_else(|| "tmp".into());
    let tmp_name = format!(
        ".{}.{}-{}.tmp.{ext}",
        file_name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut tmp = TempFile { path: path.with_file_name(tmp_name), keep: false };
    render(&tmp.path)?;
    fs::rename(&tmp.path, path)
        .map_err(|e| io::Error::new(e.kind(), format!("renaming {} to {}: {e}", tmp.path.display(), path.display())))?;
    tmp.keep = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_atomic_renames_on_success_and_leaves_nothing_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/plot.png");
        render_atomic(&path, |tmp| {
            assert!(tmp.to_string_lossy().ends_with(".tmp.png"), "the encoder must still see .png: {tmp:?}");
            fs::write(tmp, b"picture")
        })
        .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"picture");

        let failed: io::Result<()> = render_atomic(&path, |tmp| {
            fs::write(tmp, b"half")?;
            Err(io::Error::other("encoder failed"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"picture", "the old file stays");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("plot.png")], "no temporary file is left");
    }
}
