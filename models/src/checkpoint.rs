//! Checkpoint files: a model's parameters as a safetensors file, with its [`ModelConfig`] in the header.
//!
//! This module owns the on-disk format of DESIGN.md section 5: one `F32` tensor per
//! [`TensorSpec`](crate::layout::TensorSpec) of the model's layout (same names, same shapes,
//! little-endian), and the header's `__metadata__` holding `deepcrl.format` (the integer
//! [`FORMAT_VERSION`]) and `deepcrl.config` (the config as JSON). Every file is written to a
//! temporary name in the target directory, synced and then renamed, so a reader never sees a
//! partial file. Loading never panics: each problem is a [`ModelError::Checkpoint`] that names the
//! file, says exactly what is wrong, and what to do about it.
//!
//! [`write_safetensors_atomic`] and [`read_safetensors`] are the format-agnostic halves, reused for
//! other run files (optimiser state, the waypoint bank).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::Dtype;

use crate::config::{ModelConfig, TrunkKind};
use crate::error::{ModelError, Result};
use crate::layout::{Model, ModelLayout};

/// The checkpoint format this build writes, and the newest it can read.
pub const FORMAT_VERSION: u32 = 1;
/// `__metadata__` key holding the format version as a decimal integer.
pub const FORMAT_KEY: &str = "deepcrl.format";
/// `__metadata__` key holding the [`ModelConfig`] as JSON.
pub const CONFIG_KEY: &str = "deepcrl.config";

/// One tensor read back from a safetensors file: name, shape and values.
pub type TensorData = (String, Vec<usize>, Vec<f32>);

/// `return Err(ModelError::checkpoint(path, format!(...)))`.
macro_rules! fail {
    ($path:expr, $($fmt:tt)+) => {
        return Err(ModelError::checkpoint($path, format!($($fmt)+)))
    };
}

/// How many names an error message lists before it says "and N more".
const LIST_LIMIT: usize = 5;
/// `f32` values converted to bytes per write call.
const WRITE_CHUNK: usize = 1 << 16;

/// The `__metadata__` of a checkpoint of a model with this config.
pub fn checkpoint_metadata(cfg: &ModelConfig) -> Result<HashMap<String, String>> {
    let json = serde_json::to_string(cfg)
        .map_err(|e| ModelError::Config(format!("cannot serialise the config to JSON: {e}")))?;
    Ok(HashMap::from([(FORMAT_KEY.to_string(), FORMAT_VERSION.to_string()), (CONFIG_KEY.to_string(), json)]))
}

/// Writes `model` to `path` (atomically; the parent directory is created if missing).
pub fn save(model: &Model, path: &Path) -> Result<()> {
    let layout = ModelLayout::new(&model.cfg)?;
    if layout != model.layout || model.params.len() != layout.len {
        fail!(
            path,
            "refusing to save: the model's layout or buffer ({} parameters) does not match the \
             layout of its config ({} parameters), so the file could not be loaded back",
            model.params.len(),
            layout.len
        );
    }
    let tensors: Vec<(String, Vec<usize>, &[f32])> =
        layout.specs.iter().map(|s| (s.name.clone(), s.shape.clone(), &model.params[s.range()])).collect();
    write_safetensors_atomic(path, &tensors, &checkpoint_metadata(&model.cfg)?)
}

/// Reads a checkpoint written by [`save`], checking its format version, config, tensor names,
/// shapes, dtypes and values.
pub fn load(path: &Path) -> Result<Model> {
    let bytes = read_bytes(path)?;
    let (metadata, tensors) = parse(path, &bytes)?;
    let cfg = config_from_metadata(path, metadata.as_ref())?;
    let layout = match ModelLayout::new(&cfg) {
        Ok(layout) => layout,
        Err(ModelError::Config(e)) => {
            fail!(path, "its `{CONFIG_KEY}` is not a valid model configuration: {e}")
        }
        Err(e) => return Err(e),
    };
    check_names(path, &cfg, &layout, &tensors)?;
    let by_name: HashMap<&str, &RawTensor> = tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut params = vec![0f32; layout.len];
    let mut non_finite = Vec::new();
    for spec in &layout.specs {
        let Some(t) = by_name.get(spec.name.as_str()) else {
            fail!(path, "tensor {} is missing", spec.name);
        };
        check_f32(path, t)?;
        if t.shape != spec.shape {
            fail!(
                path,
                "tensor {} has shape {:?} but the config ({}) needs shape {:?}; the file was \
                 edited or its config does not belong to its weights",
                spec.name,
                t.shape,
                describe(&cfg),
                spec.shape
            );
        }
        let dst = &mut params[spec.range()];
        decode_f32(t.data, dst);
        let nan = dst.iter().filter(|x| x.is_nan()).count();
        let inf = dst.iter().filter(|x| x.is_infinite()).count();
        if nan + inf > 0 {
            non_finite.push(format!("{} ({nan} NaN, {inf} infinite)", spec.name));
        }
    }
    if !non_finite.is_empty() {
        fail!(
            path,
            "holds non-finite values in {}; training diverged before this checkpoint was \
             written, so use an earlier checkpoint",
            tensor_list(&non_finite)
        );
    }
    Ok(Model { cfg, layout, params })
}

/// The [`ModelConfig`] in a checkpoint's header, read without its tensors: following a student's
/// `parent` chain must not read a depth-1024 teacher's gigabytes.
pub fn read_config(path: &Path) -> Result<ModelConfig> {
    match read_metadata(path) {
        Some(meta) => config_from_metadata(path, Some(&meta)),
        // Unreadable or not safetensors: `load` says exactly what is wrong.
        None => load(path).map(|m| m.cfg),
    }
}

/// The `__metadata__` of a safetensors file (empty when it has none), reading only its header; `None`
/// when the file cannot be read or its header is not a safetensors header.
pub fn read_metadata(path: &Path) -> Option<HashMap<String, String>> {
    use std::io::Read;
    let mut file = fs::File::open(path).ok()?;
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix).ok()?;
    // A real header is kilobytes; anything larger is not one.
    let header_len = usize::try_from(u64::from_le_bytes(prefix)).ok().filter(|&n| n < 100_000_000)?;
    let mut header = vec![0u8; header_len];
    file.read_exact(&mut header).ok()?;
    let meta = serde_json::from_slice::<Metadata>(&header).ok()?;
    Some(meta.metadata().clone().unwrap_or_default())
}

/// Writes `F32` tensors (name, shape, values) and `metadata` as a safetensors file at `path`:
/// to a temporary file in the same directory, flushed and synced, then renamed over `path`. The
/// parent directory is created if missing; on any failure `path` is left as it was.
pub fn write_safetensors_atomic(
    path: &Path,
    tensors: &[(String, Vec<usize>, &[f32])],
    metadata: &HashMap<String, String>,
) -> Result<()> {
    let mut infos = Vec::with_capacity(tensors.len());
    let mut seen = HashSet::new();
    let mut offset = 0usize;
    for (name, shape, data) in tensors {
        if !seen.insert(name.as_str()) || name == "__metadata__" {
            fail!(path, "cannot write: tensor name {name:?} is reserved or appears twice");
        }
        if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(data.len()) {
            fail!(path, "cannot write: tensor {name} has shape {shape:?} but {} values", data.len());
        }
        let (dtype, shape, end) = (Dtype::F32, shape.clone(), offset + 4 * data.len());
        infos.push((name.clone(), TensorInfo { dtype, shape, data_offsets: (offset, end) }));
        offset = end;
    }
    let meta = (!metadata.is_empty()).then(|| metadata.clone());
    let header = Metadata::new(meta, infos).map_err(|e| e.to_string());
    let mut header = match header.and_then(|h| serde_json::to_vec(&h).map_err(|e| e.to_string())) {
        Ok(h) => h,
        Err(e) => fail!(path, "cannot build the safetensors header: {e}"),
    };
    header.resize(header.len().next_multiple_of(8), b' ');

    crate::atomic::write_atomic(path, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(&header)?;
        let mut buf = Vec::with_capacity(4 * WRITE_CHUNK);
        for (_, _, data) in tensors {
            for chunk in data.chunks(WRITE_CHUNK) {
                buf.clear();
                buf.extend(chunk.iter().flat_map(|x| x.to_le_bytes()));
                w.write_all(&buf)?;
            }
        }
        Ok(())
    })
}

/// Reads every tensor of a safetensors file whose tensors are all `F32`, with its `__metadata__`
/// (empty when the file has none). Tensors come in file order.
pub fn read_safetensors(path: &Path) -> Result<(HashMap<String, String>, Vec<TensorData>)> {
    let bytes = read_bytes(path)?;
    let (metadata, raw) = parse(path, &bytes)?;
    let mut out = Vec::with_capacity(raw.len());
    for t in raw {
        check_f32(path, &t)?;
        let mut values = vec![0f32; t.data.len() / 4];
        decode_f32(t.data, &mut values);
        out.push((t.name, t.shape, values));
    }
    Ok((metadata.unwrap_or_default(), out))
}

/// A tensor as stored: its bytes borrowed from the file contents.
struct RawTensor<'a> {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    data: &'a [u8],
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    match fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fail!(
            path,
            "does not exist; check the path (a run keeps its weights in \
             runs/<name>/teacher.safetensors)"
        ),
        Err(e) => fail!(path, "cannot be read: {e}"),
    }
}

/// A file's `__metadata__` and its tensors in file order.
type Parsed<'a> = (Option<HashMap<String, String>>, Vec<RawTensor<'a>>);

/// Splits a safetensors file into its `__metadata__` and tensors, in file order.
fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<Parsed<'a>> {
    let len = bytes.len();
    let Some((prefix, rest)) = bytes.split_first_chunk::<8>() else {
        fail!(
            path,
            "is not a safetensors file: it is only {len} bytes long, shorter than the 8-byte \
             header length every safetensors file starts with"
        );
    };
    let n = u64::from_le_bytes(*prefix);
    let Some(header) = usize::try_from(n).ok().and_then(|n| rest.get(..n)) else {
        if rest.first() == Some(&b'{') && n < 100_000_000 {
            fail!(
                path,
                "is truncated inside its header: the header should be {n} bytes but only {} are \
                 present (interrupted write or incomplete copy); re-copy it or use another \
                 checkpoint",
                rest.len()
            );
        }
        fail!(
            path,
            "is not a safetensors file: its first 8 bytes declare a {n}-byte header, but the \
             whole file is only {len} bytes (is it a text file or another format?)"
        );
    };
    let data = &rest[header.len()..];
    let Ok(header) = std::str::from_utf8(header) else {
        fail!(path, "is not a safetensors file: its header is not UTF-8 text");
    };
    let meta: Metadata = match serde_json::from_str(header) {
        Ok(m) => m,
        Err(e) => fail!(path, "is not a safetensors file: its JSON header is invalid: {e}"),
    };
    let (expected, found) = (meta.data_len(), data.len());
    if found < expected {
        fail!(
            path,
            "is truncated: its header describes {expected} bytes of tensor data but only {found} \
             are present ({} bytes missing; the file should be {} bytes); it was cut off by an \
             interrupted write or copy, so re-copy it or use another checkpoint",
            expected - found,
            8 + header.len() + expected
        );
    } else if found > expected {
        fail!(
            path,
            "is corrupt: {} unexpected bytes follow the {expected} bytes of tensor data its \
             header describes",
            found - expected
        );
    }
    let mut tensors = Vec::new();
    for name in meta.offset_keys() {
        let Some(info) = meta.info(&name) else {
            continue;
        };
        let (s, e) = info.data_offsets;
        let Some(data) = data.get(s..e) else {
            fail!(path, "tensor {name}: data offsets {s}..{e} lie outside the file");
        };
        let (dtype, shape) = (info.dtype, info.shape.clone());
        tensors.push(RawTensor { name, dtype, shape, data });
    }
    Ok((meta.metadata().clone(), tensors))
}

fn config_from_metadata(path: &Path, meta: Option<&HashMap<String, String>>) -> Result<ModelConfig> {
    let version = meta.and_then(|m| m.get(FORMAT_KEY));
    let (Some(meta), Some(version)) = (meta, version) else {
        let what = if meta.is_none() { "`__metadata__`" } else { "`deepcrl.format` entry" };
        fail!(
            path,
            "is not a deepcrl checkpoint: its safetensors header has no {what} (it may be a plain \
             safetensors file from another tool); load a file written by deepcrl"
        );
    };
    match version.trim().parse::<u32>() {
        Ok(v) if v > FORMAT_VERSION => fail!(
            path,
            "is in checkpoint format {v}, but this build reads format {FORMAT_VERSION} and older: \
             it was written by a newer deepcrl; upgrade deepcrl to load it"
        ),
        Ok(v) if v >= 1 => {}
        _ => fail!(
            path,
            "has `{FORMAT_KEY}` = {version:?}, which is not a valid format version (a positive \
             integer, {FORMAT_VERSION} for this build); the file is corrupt"
        ),
    }
    let Some(json) = meta.get(CONFIG_KEY) else {
        fail!(
            path,
            "has no `{CONFIG_KEY}` entry in its `__metadata__`, so the model's shape is unknown; \
             the file is corrupt or was not written by deepcrl"
        );
    };
    match serde_json::from_str(json) {
        Ok(cfg) => Ok(cfg),
        Err(e) => fail!(
            path,
            "its `{CONFIG_KEY}` is not a valid model configuration: {e}; the file was edited or \
             is corrupt"
        ),
    }
}

/// Fails with every missing and unexpected tensor name.
fn check_names(path: &Path, cfg: &ModelConfig, layout: &ModelLayout, tensors: &[RawTensor]) -> Result<()> {
    let in_file: HashSet<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let in_layout: HashSet<&str> = layout.specs.iter().map(|s| s.name.as_str()).collect();
    let names = layout.specs.iter().map(|s| s.name.as_str());
    let missing: Vec<&str> = names.filter(|n| !in_file.contains(n)).collect();
    let names = tensors.iter().map(|t| t.name.as_str());
    let extra: Vec<&str> = names.filter(|n| !in_layout.contains(n)).collect();
    let mut parts = Vec::new();
    for (what, list) in [("missing", &missing), ("unexpected", &extra)] {
        if !list.is_empty() {
            parts.push(format!("{what} {}", tensor_list(list)));
        }
    }
    if !parts.is_empty() {
        fail!(
            path,
            "its tensors do not match its config ({}): {}; the file was edited or its config does \
             not belong to its weights",
            describe(cfg),
            parts.join("; ")
        );
    }
    Ok(())
}

fn check_f32(path: &Path, t: &RawTensor) -> Result<()> {
    if t.dtype == Dtype::F32 {
        return Ok(());
    }
    fail!(
        path,
        "tensor {} has dtype {} but deepcrl stores every tensor as F32; convert the file to F32",
        t.name,
        t.dtype
    )
}

/// Little-endian `f32` bytes into `dst` (as many values as both hold).
fn decode_f32(src: &[u8], dst: &mut [f32]) {
    for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
        *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
}

fn describe(cfg: &ModelConfig) -> String {
    let mut s = format!(
        "env {}, actor_depth {}, critic_depth {}, width {}, repr_dim {}",
        cfg.env, cfg.actor_depth, cfg.critic_depth, cfg.width, cfg.repr_dim
    );
    // A width-pruned model's shapes depend on its inner widths too, so a shape mismatch names them.
    if let Some(iw) = &cfg.inner_widths {
        for trunk in TrunkKind::ALL {
            let w = iw.get(trunk);
            if !w.is_empty() {
                s.push_str(&format!(", inner_widths.{} {w:?}", trunk.field()));
            }
        }
    }
    s
}

/// `12 tensors: a, b, c, d, e and 7 more`.
fn tensor_list<S: AsRef<str>>(names: &[S]) -> String {
    let shown: Vec<&str> = names.iter().take(LIST_LIMIT).map(AsRef::as_ref).collect();
    let plural = if names.len() == 1 { "" } else { "s" };
    let mut s = format!("{} tensor{plural}: {}", names.len(), shown.join(", "));
    if names.len() > LIST_LIMIT {
        s.push_str(&format!(" and {} more", names.len() - LIST_LIMIT));
    }
    s
}
