//! Configuration from one source. Each stage's configuration struct is also its CLI (`clap::Args`,
//! with `serde`): a field's doc comment is its `--help` text and its `Default` is the flag's default,
//! so neither exists twice. A run's configuration is resolved from layers, highest first:
//!
//! 1. flags given on the command line (or in an environment variable the flag names);
//! 2. `--config FILE.toml` (any subset of the fields);
//! 3. a resumed run's own `config.toml`;
//! 4. the defaults.
//!
//! [`resolve`] does this for any such struct; every file layer is checked on its own first, so a bad
//! value or an unknown key is reported with the file it came from.

use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, FromArgMatches};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A configuration file that could not be used, or flags that clap could not read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read it: {source}", .path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {msg}", .path.display())]
    Invalid { path: PathBuf, msg: String },
    #[error("{}: unknown key `{key}`; the keys are the long flag names with `_` for `-`: {valid}", .path.display())]
    UnknownKey { path: PathBuf, key: String, valid: String },
    #[error(transparent)]
    Flags(#[from] clap::Error),
    #[error("resolving the configuration: {0}")]
    Merge(String),
}

/// One TOML file of configuration values.
#[derive(Clone, Debug)]
pub struct Layer {
    pub path: PathBuf,
    pub table: toml::Table,
}

impl Layer {
    /// Reads and parses `path` as a TOML table.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let table = text
            .parse::<toml::Table>()
            .map_err(|e| ConfigError::Invalid { path: path.to_path_buf(), msg: e.to_string() })?;
        Ok(Layer { path: path.to_path_buf(), table })
    }
}

/// The layer a `--config FILE.toml` flag names (the arg id `config`), if it was given.
pub fn config_flag(matches: &ArgMatches) -> Result<Vec<Layer>, ConfigError> {
    let given = matches.ids().any(|i| i.as_str() == "config");
    match given.then(|| matches.get_one::<PathBuf>("config")).flatten() {
        Some(path) => Ok(vec![Layer::read(path)?]),
        None => Ok(Vec::new()),
    }
}

/// Whether `matches` holds a value for `id` that the user gave (not clap's default).
pub fn given(matches: &ArgMatches, id: &str) -> bool {
    // `value_source` is only asked about ids clap knows; it panics on others in debug builds.
    matches.ids().any(|i| i.as_str() == id)
        && matches!(matches.value_source(id), Some(ValueSource::CommandLine | ValueSource::EnvVariable))
}

/// `T` resolved from `layers` (lowest precedence first) under the flags in `matches`: each field
/// takes the value of the highest layer that sets it, a flag given on the command line beating every
/// file, and the default (clap's, which is `T::default()`) where nothing sets it.
pub fn resolve<T>(matches: &ArgMatches, layers: &[Layer]) -> Result<T, ConfigError>
where
    T: FromArgMatches + Serialize + DeserializeOwned,
{
    let from_flags = T::from_arg_matches(matches)?;
    let mut merged = serde_json::to_value(&from_flags).map_err(|e| ConfigError::Merge(e.to_string()))?;
    let fields =
        merged.as_object_mut().ok_or_else(|| ConfigError::Merge("the configuration is not a struct".into()))?;
    for layer in layers {
        let invalid = |msg: String| ConfigError::Invalid { path: layer.path.clone(), msg };
        for (key, value) in &layer.table {
            if !fields.contains_key(key) {
                let valid = fields.keys().cloned().collect::<Vec<_>>().join(", ");
                return Err(ConfigError::UnknownKey { path: layer.path.clone(), key: key.clone(), valid });
            }
            if given(matches, key) {
                continue;
            }
            let value = serde_json::to_value(value).map_err(|e| invalid(format!("`{key}`: {e}")))?;
            // Checked one field at a time so the error names the key and the file it came from.
            let mut probe = fields.clone();
            probe.insert(key.clone(), value.clone());
            serde_json::from_value::<T>(serde_json::Value::Object(probe))
                .map_err(|e| invalid(format!("`{key}` = {}: {e}", layer.table[key])))?;
            fields.insert(key.clone(), value);
        }
    }
    serde_json::from_value(merged).map_err(|e| ConfigError::Merge(e.to_string()))
}

#[cfg(test)]
mod tests {
    use clap::{Args, Command};
    use serde::Deserialize;

    use super::*;

    /// A stage's configuration in miniature: a default that differs from the type's zero, an optional
    /// field, a bool that takes a value.
    #[derive(Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Cfg {
        /// Linear layers.
        #[arg(long, default_value_t = Cfg::default().depth)]
        depth: usize,
        /// Learning rate.
        #[arg(long, default_value_t = Cfg::default().lr)]
        lr: f32,
        /// Actor depth (default: depth).
        #[arg(long)]
        actor_depth: Option<usize>,
        /// Chain goals.
        #[arg(long, default_value_t = Cfg::default().chain, action = clap::ArgAction::Set)]
        chain: bool,
    }

    impl Default for Cfg {
        fn default() -> Self {
            Cfg { depth: 4, lr: 3e-4, actor_depth: None, chain: true }
        }
    }

    fn matches(args: &[&str]) -> ArgMatches {
        Cfg::augment_args(Command::new("t"))
            .try_get_matches_from(std::iter::once("t").chain(args.iter().copied()))
            .unwrap()
    }

    fn layer(dir: &Path, name: &str, text: &str) -> Layer {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        Layer::read(&path).unwrap()
    }

    #[test]
    fn flags_beat_the_config_file_which_beats_the_resumed_run_which_beats_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let resumed = layer(dir.path(), "resumed.toml", "depth = 16\nlr = 0.001\nchain = false\n");
        let file = layer(dir.path(), "file.toml", "depth = 32\nactor_depth = 8\n");
        let c: Cfg = resolve(&matches(&[]), &[]).unwrap();
        assert_eq!(c, Cfg::default(), "no layer: the defaults");
        let c: Cfg = resolve(&matches(&[]), std::slice::from_ref(&resumed)).unwrap();
        assert_eq!(c, Cfg { depth: 16, lr: 0.001, actor_depth: None, chain: false });
        let c: Cfg = resolve(&matches(&[]), &[resumed.clone(), file.clone()]).unwrap();
        assert_eq!(c, Cfg { depth: 32, lr: 0.001, actor_depth: Some(8), chain: false });
        let c: Cfg = resolve(&matches(&["--depth", "64", "--chain", "true"]), &[resumed, file]).unwrap();
        assert_eq!(c, Cfg { depth: 64, lr: 0.001, actor_depth: Some(8), chain: true });
        // A flag equal to the default still counts as given.
        let c: Cfg = resolve(&matches(&["--depth", "4"]), &[layer(dir.path(), "f.toml", "depth = 8\n")]).unwrap();
        assert_eq!(c.depth, 4);
    }

    #[test]
    fn bad_files_name_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let e = resolve::<Cfg>(&matches(&[]), &[layer(dir.path(), "a.toml", "dpeth = 8\n")]).unwrap_err().to_string();
        assert!(e.contains("a.toml") && e.contains("unknown key `dpeth`") && e.contains("depth"), "{e}");
        let e = resolve::<Cfg>(&matches(&[]), &[layer(dir.path(), "b.toml", "depth = \"deep\"\n")]).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("b.toml") && e.contains("`depth`"), "{e}");
        std::fs::write(dir.path().join("c.toml"), "depth = = 8").unwrap();
        let e = Layer::read(&dir.path().join("c.toml")).unwrap_err().to_string();
        assert!(e.contains("c.toml"), "{e}");
        let e = Layer::read(&dir.path().join("missing.toml")).unwrap_err().to_string();
        assert!(e.contains("missing.toml") && e.contains("cannot read"), "{e}");
    }
}
