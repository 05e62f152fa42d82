//! Atomic file writes: every file deepcrl writes goes to a temporary file in the target directory
//! (`tempfile`), is synced, and is then renamed over the target (`persist`), so a reader, or a process
//! killed mid-write, never sees half a file. A failed write removes its temporary file and leaves the
//! old target as it was.
//!
//! Temporary names start with `.<name>.` and end in `.tmp` (or `.tmp.<ext>` for [`render_atomic`]),
//! which is how [`is_stale_temp`] recognises what a killed process left behind.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::{Builder, NamedTempFile};

use crate::error::{ModelError, Result};

/// Writes `path` through `write` atomically, creating the parent directory if needed.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut BufWriter<&File>) -> io::Result<()>) -> Result<()> {
    let (tmp, _) = temp_beside(path, "tmp").map_err(|e| ModelError::io(format!("writing {}", path.display()), e))?;
    let written = (|| {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        write(&mut w)?;
        w.flush()?;
        drop(w);
        tmp.as_file().sync_all()
    })();
    written.map_err(|e| ModelError::io(format!("writing {}", tmp.path().display()), e))?;
    persist(tmp, path).map_err(|e| ModelError::io(format!("renaming into {}", path.display()), e))
}

/// [`write_atomic`] for bytes already in memory.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

/// [`write_atomic`] for encoders that open the file themselves and pick its format from the extension
/// (plotters' bitmap backend): `render` writes a temporary path that ends in `.tmp.<ext>` beside
/// `path` (so the extension still names the format), which is then renamed over `path`.
pub fn render_atomic<E: From<io::Error>>(
    path: &Path,
    render: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let ext = path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    let suffix = if ext.is_empty() { "tmp".to_string() } else { format!("tmp.{ext}") };
    let (tmp, _) = temp_beside(path, &suffix)?;
    render(tmp.path())?;
    persist(tmp, path)?;
    Ok(())
}

/// Whether `name` is a temporary file of this module's (left behind by a killed process).
pub fn is_stale_temp(name: &str) -> bool {
    name.starts_with('.') && (name.ends_with(".tmp") || name.rsplit_once('.').is_some_and(|(s, _)| s.ends_with(".tmp")))
}

/// A new temporary file in `path`'s directory, named `.<name>.XXXXXX.<suffix>`; the directory is created.
fn temp_beside(path: &Path, suffix: &str) -> io::Result<(NamedTempFile, PathBuf)> {
    let name = path.file_name().ok_or_else(|| io::Error::other(format!("{} does not name a file", path.display())))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| io::Error::new(e.kind(), format!("creating directory {}: {e}", dir.display())))?;
    let tmp = Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(&format!(".{suffix}"))
        .tempfile_in(&dir)?;
    Ok((tmp, dir))
}

/// Renames `tmp` over `path`, then syncs the directory so the rename itself survives a crash.
fn persist(tmp: NamedTempFile, path: &Path) -> io::Result<()> {
    tmp.persist(path).map_err(|e| e.error)?;
    // Not every platform can open a directory for syncing, so this is best effort.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        v.sort();
        v
    }

    #[test]
    fn render_atomic_renames_on_success_and_leaves_nothing_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/plot.png");
        render_atomic(&path, |tmp| {
            let name = tmp.file_name().unwrap().to_string_lossy().into_owned();
            assert!(name.ends_with(".tmp.png") && is_stale_temp(&name), "the encoder must still see .png: {name}");
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
        assert_eq!(names(path.parent().unwrap()), ["plot.png"], "no temporary file is left");
    }

    #[test]
    fn write_atomic_replaces_whole_files_and_a_failed_write_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/config.toml");
        write_bytes_atomic(&path, b"first").unwrap();
        write_bytes_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let e = write_atomic(&path, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(e.to_string().contains("disk full"), "{e}");
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(names(path.parent().unwrap()), ["config.toml"]);
    }

    #[test]
    fn stale_temp_names_are_recognised_and_real_files_are_not() {
        for stale in [".teacher.safetensors.a1B2c3.tmp", ".curves.png.XyZ123.tmp.png"] {
            assert!(is_stale_temp(stale), "{stale}");
        }
        for real in ["teacher.safetensors", "curves.png", ".gitignore", ".lock", "notes.tmp"] {
            assert!(!is_stale_temp(real), "{real}");
        }
    }
}
