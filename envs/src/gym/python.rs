//! The embedded interpreter: started once, with the active virtualenv's packages first on its path,
//! and Python errors turned into [`EnvError`]s that keep the traceback.

use std::path::Path;
use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

use crate::error::{EnvError, Result};

/// The Python half of the bridge, compiled into the binary.
const BRIDGE: &str = include_str!("bridge.py");

/// Loads the bridge module the first time; later calls return it. A `PyOnceLock`, not std's: loading
/// runs Python code, which lets other threads take the GIL, and a second thread that waited on std's
/// lock while holding the GIL deadlocked with the first (seen as a hang of the parallel tests).
pub(crate) fn bridge(py: Python<'_>) -> Result<Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<std::result::Result<Py<PyModule>, String>> = PyOnceLock::new();
    let module = MODULE.get_or_init(py, || load(py).map_err(|e| e.to_string()));
    match module {
        Ok(m) => Ok(m.bind(py).clone()),
        Err(msg) => Err(EnvError::Python(msg.clone())),
    }
}

/// Attaches to the interpreter, starting it first if this process has not.
pub(crate) fn attach<R>(f: impl for<'py> FnOnce(Python<'py>) -> Result<R>) -> Result<R> {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(Python::initialize);
    Python::attach(f)
}

fn load(py: Python<'_>) -> Result<Py<PyModule>> {
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        use_virtualenv(py, Path::new(&venv))?;
    }
    let code = std::ffi::CString::new(BRIDGE).map_err(|e| EnvError::Python(format!("bridge.py: {e}")))?;
    let module = PyModule::from_code(py, &code, c"deepcrl_gym_bridge.py", c"deepcrl_gym_bridge")
        .map_err(|e| python_error(py, "loading deepcrl's Gymnasium bridge", &e))?;
    Ok(module.unbind())
}

/// Puts a virtualenv's site-packages ahead of the interpreter's own, refusing one made by another
/// Python version (its compiled packages would not load).
fn use_virtualenv(py: Python<'_>, venv: &Path) -> Result<()> {
    let cfg = std::fs::read_to_string(venv.join("pyvenv.cfg")).map_err(|e| {
        EnvError::Python(format!(
            "VIRTUAL_ENV is {} but its pyvenv.cfg cannot be read ({e}); activate a virtualenv made by `python3 -m venv`, \
             or unset VIRTUAL_ENV",
            venv.display()
        ))
    })?;
    let (major, minor): (u32, u32) = py
        .import("sys")
        .and_then(|sys| sys.getattr("version_info"))
        .and_then(|v| Ok((v.getattr("major")?.extract()?, v.getattr("minor")?.extract()?)))
        .map_err(|e| python_error(py, "reading the interpreter's version", &e))?;
    let made_by = cfg
        .lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| matches!(k.trim(), "version" | "version_info"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let ours = format!("{major}.{minor}");
    if !(made_by == ours || made_by.starts_with(&format!("{ours}."))) {
        return Err(EnvError::Python(format!(
            "the virtualenv {} was made by Python {made_by}, but this build embeds Python {ours}: make the \
             virtualenv with python{ours}, or rebuild with PYO3_PYTHON pointing at its interpreter",
            venv.display()
        )));
    }
    let site = venv.join("lib").join(format!("python{ours}")).join("site-packages");
    let code = c"import site, sys\nsys.path.insert(0, SITE)\nsite.addsitedir(SITE)\n";
    let globals = pyo3::types::PyDict::new(py);
    globals
        .set_item("SITE", site.to_string_lossy().as_ref())
        .and_then(|_| py.run(code, Some(&globals), None))
        .map_err(|e| python_error(py, "adding the virtualenv's site-packages", &e))
}

/// A Python error as an [`EnvError`]: the bridge's own errors by their message, anything else with
/// its type and traceback, since the fault is then in the user's environment code.
pub(crate) fn python_error(py: Python<'_>, doing: &str, err: &PyErr) -> EnvError {
    let is_bridge = py
        .import("deepcrl_gym_bridge")
        .and_then(|m| m.getattr("BridgeError"))
        .map(|t| err.get_type(py).is(&t))
        .unwrap_or(false);
    if is_bridge {
        return EnvError::Python(err.value(py).to_string());
    }
    let traceback = err.traceback(py).and_then(|t| t.format().ok()).unwrap_or_default();
    EnvError::Python(format!("{doing}: Python raised {err}\n{traceback}"))
}
