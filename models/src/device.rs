//! `--device cpu|cuda[:N]` parsing shared by every stage's CLI.
//!
//! ```
//! assert!(models::device::parse_device("cpu").unwrap().is_cpu());
//! assert!(models::device::parse_device("tpu").is_err());
//! ```

#[cfg(feature = "reference")]
use candle_core::Device;

use crate::error::{ModelError, Result};

/// What a `--device` flag asked for, before any hardware is touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceSpec {
    Cpu,
    Cuda(usize),
}

impl std::str::FromStr for DeviceSpec {
    type Err = ModelError;

    fn from_str(spec: &str) -> Result<Self> {
        let bad = |msg: &str| ModelError::Device { spec: spec.to_string(), msg: msg.to_string() };
        match spec.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(0)),
            s => match s.strip_prefix("cuda:") {
                Some(n) => n
                    .parse()
                    .map(DeviceSpec::Cuda)
                    .map_err(|_| bad("the GPU index after `cuda:` must be a number, e.g. cuda:0")),
                None => Err(bad("expected `cpu`, `cuda` or `cuda:N`")),
            },
        }
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

#[cfg(feature = "reference")]
impl DeviceSpec {
    /// Opens the device; CUDA needs a build with `--features cuda` and a GPU at run time.
    pub fn open(self) -> Result<Device> {
        match self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Cuda(n) => open_cuda(n).map_err(|msg| ModelError::Device { spec: self.to_string(), msg }),
        }
    }
}

#[cfg(all(feature = "reference", feature = "cuda"))]
fn open_cuda(n: usize) -> std::result::Result<Device, String> {
    Device::new_cuda(n).map_err(|e| format!("could not open CUDA device {n}: {e}"))
}

#[cfg(all(feature = "reference", not(feature = "cuda")))]
fn open_cuda(_n: usize) -> std::result::Result<Device, String> {
    Err("this binary was built without CUDA; rebuild with `--features cuda` (see README)".into())
}

/// Parses and opens a device in one call.
#[cfg(feature = "reference")]
pub fn parse_device(spec: &str) -> Result<Device> {
    spec.parse::<DeviceSpec>()?.open()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("CUDA".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        for bad in ["", "cuda:", "cuda:x", "metal", "cuda:-1"] {
            let err = bad.parse::<DeviceSpec>().unwrap_err().to_string();
            assert!(err.contains("bad device"), "{bad}: {err}");
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_feature_says_how_to_fix() {
        let err = parse_device("cuda:0").unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
