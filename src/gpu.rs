//! NVML access shared by the render context, `doctor`, `ps` and `top`.
//!
//! NVML is loaded at run time (`libnvidia-ml.so.1`); a machine without the NVIDIA driver gets an
//! inventory with `available: false` and the reason, never a crash.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GpuDevice {
    pub index: u32,
    pub uuid: String,
    pub name: String,
    pub memory_mib: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct GpuInventory {
    pub available: bool,
    pub devices: Vec<GpuDevice>,
    /// Why no GPU is visible (library missing, driver not loaded, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuda_driver_version: Option<String>,
}

/// Asks NVML for the devices. Cheap enough for every `up`/`render` (one dlopen + a few calls).
pub fn probe() -> GpuInventory {
    if std::env::var_os("DEVSTACK_NO_NVML").is_some() {
        return GpuInventory {
            unavailable_reason: Some("NVML disabled by DEVSTACK_NO_NVML".into()),
            ..Default::default()
        };
    }
    let nvml = match nvml_wrapper::Nvml::init() {
        Ok(n) => n,
        Err(err) => {
            return GpuInventory {
                unavailable_reason: Some(format!("NVML unavailable: {err}")),
                ..Default::default()
            }
        }
    };
    let mut inv = GpuInventory {
        driver_version: nvml.sys_driver_version().ok(),
        cuda_driver_version: nvml.sys_cuda_driver_version().ok().map(|v| {
            format!(
                "{}.{}",
                nvml_wrapper::cuda_driver_version_major(v),
                nvml_wrapper::cuda_driver_version_minor(v)
            )
        }),
        ..Default::default()
    };
    let count = nvml.device_count().unwrap_or(0);
    for index in 0..count {
        let Ok(dev) = nvml.device_by_index(index) else {
            continue;
        };
        inv.devices.push(GpuDevice {
            index,
            uuid: dev.uuid().unwrap_or_default(),
            name: dev.name().unwrap_or_default(),
            memory_mib: dev
                .memory_info()
                .map(|m| m.total / (1024 * 1024))
                .unwrap_or(0),
        });
    }
    inv.available = !inv.devices.is_empty();
    if !inv.available {
        inv.unavailable_reason = Some("NVML reports no GPU".into());
    }
    inv
}

/// Which GPUs the stack asks for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "request", content = "ids", rename_all = "lowercase")]
pub enum GpuSelection {
    /// Every GPU (`count: all`).
    All,
    /// These device ids (indices or UUIDs, as given).
    Ids(Vec<String>),
    /// CPU only: no device request at all.
    None,
}

impl GpuSelection {
    /// From `DEVSTACK_GPU`, else `CUDA_VISIBLE_DEVICES`, else all GPUs when NVML sees any.
    /// Explicit ids are kept even when NVML is absent (a remote engine may have the GPUs);
    /// `doctor` checks them against the inventory.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>, inv: &GpuInventory) -> Self {
        let raw = lookup("DEVSTACK_GPU")
            .filter(|s| !s.trim().is_empty())
            .or_else(|| lookup("CUDA_VISIBLE_DEVICES").filter(|s| !s.trim().is_empty()));
        match raw.as_deref().map(str::trim) {
            None => {
                if inv.available {
                    GpuSelection::All
                } else {
                    GpuSelection::None
                }
            }
            Some(s) if s.eq_ignore_ascii_case("all") => GpuSelection::All,
            Some(s)
                if s.eq_ignore_ascii_case("none")
                    || s == "-1"
                    || s.eq_ignore_ascii_case("void") =>
            {
                GpuSelection::None
            }
            Some(s) => GpuSelection::Ids(
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect(),
            ),
        }
    }

    pub fn ids(&self) -> Vec<String> {
        match self {
            GpuSelection::Ids(v) => v.clone(),
            _ => Vec::new(),
        }
    }

    pub fn mode(&self) -> &'static str {
        match self {
            GpuSelection::All => "all",
            GpuSelection::Ids(_) => "ids",
            GpuSelection::None => "none",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn selection_rules() {
        let none = GpuInventory::default();
        let some = GpuInventory {
            available: true,
            ..Default::default()
        };
        assert_eq!(GpuSelection::from_env(env(&[]), &none), GpuSelection::None);
        assert_eq!(GpuSelection::from_env(env(&[]), &some), GpuSelection::All);
        assert_eq!(
            GpuSelection::from_env(env(&[("DEVSTACK_GPU", "all")]), &none),
            GpuSelection::All
        );
        assert_eq!(
            GpuSelection::from_env(env(&[("DEVSTACK_GPU", "none")]), &some),
            GpuSelection::None
        );
        assert_eq!(
            GpuSelection::from_env(env(&[("DEVSTACK_GPU", "0, 1")]), &none),
            GpuSelection::Ids(vec!["0".into(), "1".into()])
        );
        assert_eq!(
            GpuSelection::from_env(env(&[("CUDA_VISIBLE_DEVICES", "GPU-abc")]), &none),
            GpuSelection::Ids(vec!["GPU-abc".into()])
        );
        assert_eq!(
            GpuSelection::from_env(
                env(&[("DEVSTACK_GPU", "1"), ("CUDA_VISIBLE_DEVICES", "0")]),
                &none
            ),
            GpuSelection::Ids(vec!["1".into()])
        );
    }
}
