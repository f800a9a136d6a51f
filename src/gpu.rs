//! NVML access shared by the render context, `doctor`, `ps` and `top`.
//!
//! NVML is loaded at run time (`libnvidia-ml.so.1`); a machine without the NVIDIA driver gets an
//! inventory with `available: false` and the reason, never a crash.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GpuDevice {
    pub index: u32,
    pub uuid: String,
    pub name: String,
    pub memory_mib: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
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

/// Live state of one GPU (for `doctor`, `ps` and `top`).
#[derive(Debug, Clone, Serialize)]
pub struct GpuStatus {
    pub index: u32,
    pub uuid: String,
    pub name: String,
    pub memory_total_mib: u64,
    pub memory_used_mib: u64,
    pub utilization_pct: Option<u32>,
    pub temperature_c: Option<u32>,
    pub power_w: Option<f64>,
    pub processes: Vec<GpuProcess>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GpuProcess {
    /// Host pid (NVML is not PID-namespace aware).
    pub pid: u32,
    pub used_mib: Option<u64>,
    /// The Docker container the process belongs to, from /proc/<pid>/cgroup.
    pub container_id: Option<String>,
}

/// Per-device utilisation, temperature, memory and processes; Err(reason) without NVML.
pub fn status(proc_root: &std::path::Path) -> Result<Vec<GpuStatus>, String> {
    if std::env::var_os("DEVSTACK_NO_NVML").is_some() {
        return Err("NVML disabled by DEVSTACK_NO_NVML".into());
    }
    let nvml = nvml_wrapper::Nvml::init().map_err(|e| format!("NVML unavailable: {e}"))?;
    let count = nvml.device_count().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for index in 0..count {
        let Ok(dev) = nvml.device_by_index(index) else {
            continue;
        };
        let mem = dev.memory_info().ok();
        let processes = dev
            .running_compute_processes()
            .unwrap_or_default()
            .into_iter()
            .chain(dev.running_graphics_processes().unwrap_or_default())
            .map(|p| GpuProcess {
                pid: p.pid,
                used_mib: match p.used_gpu_memory {
                    nvml_wrapper::enums::device::UsedGpuMemory::Used(b) => Some(b / (1024 * 1024)),
                    nvml_wrapper::enums::device::UsedGpuMemory::Unavailable => None,
                },
                container_id: std::fs::read_to_string(
                    proc_root.join(p.pid.to_string()).join("cgroup"),
                )
                .ok()
                .and_then(|c| container_id_from_cgroup(&c)),
            })
            .collect();
        out.push(GpuStatus {
            index,
            uuid: dev.uuid().unwrap_or_default(),
            name: dev.name().unwrap_or_default(),
            memory_total_mib: mem.as_ref().map(|m| m.total / (1024 * 1024)).unwrap_or(0),
            memory_used_mib: mem.as_ref().map(|m| m.used / (1024 * 1024)).unwrap_or(0),
            utilization_pct: dev.utilization_rates().ok().map(|u| u.gpu),
            temperature_c: dev
                .temperature(nvml_wrapper::enum_wrappers::device::TemperatureSensor::Gpu)
                .ok(),
            power_w: dev.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
            processes,
        });
    }
    Ok(out)
}

/// The 64-hex Docker container id in a `/proc/<pid>/cgroup` text: cgroup v1 `…/docker/<id>`,
/// v2 or the systemd driver `…/docker-<id>.scope`.
pub fn container_id_from_cgroup(text: &str) -> Option<String> {
    for line in text.lines() {
        let path = line.rsplit(':').next().unwrap_or("");
        for seg in path.split('/').rev() {
            let id = seg
                .strip_prefix("docker-")
                .and_then(|s| s.strip_suffix(".scope"))
                .unwrap_or(seg);
            if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Some(id.to_string());
            }
        }
    }
    None
}

/// GPU memory per container id, summed over its processes and devices.
pub fn usage_by_container(
    devices: &[GpuStatus],
) -> std::collections::HashMap<String, (Vec<u32>, u64)> {
    let mut out: std::collections::HashMap<String, (Vec<u32>, u64)> = Default::default();
    for d in devices {
        for p in &d.processes {
            if let Some(id) = &p.container_id {
                let e = out.entry(id.clone()).or_default();
                if !e.0.contains(&d.index) {
                    e.0.push(d.index);
                }
                e.1 += p.used_mib.unwrap_or(0);
            }
        }
    }
    out
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
    fn cgroup_paths_name_the_container() {
        let id = "4f2c".repeat(16);
        let v1 = format!("12:memory:/docker/{id}\n11:cpu:/docker/{id}\n");
        assert_eq!(container_id_from_cgroup(&v1), Some(id.clone()));
        let v2 = format!("0::/system.slice/docker-{id}.scope\n");
        assert_eq!(container_id_from_cgroup(&v2), Some(id.clone()));
        assert_eq!(
            container_id_from_cgroup("0::/user.slice/user-1000.slice/session-2.scope\n"),
            None
        );
    }

    /// Real `/proc/<pid>/cgroup` shapes: v1, v2 with the systemd driver, rootless Docker, a host
    /// session and a Kubernetes (containerd, not Docker) pod.
    #[test]
    fn cgroup_fixture_files_name_the_container() {
        let id = "8d1e5c0b7a2f4e6d9c3b1a0f5e7d2c4b6a8f0e1d3c5b7a9f2e4d6c8b0a1f3e5d";
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sysroots/cgroup");
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        for f in ["v1-docker", "v2-systemd", "v2-rootless"] {
            assert_eq!(
                container_id_from_cgroup(&read(f)).as_deref(),
                Some(id),
                "{f}"
            );
        }
        for f in ["host-session", "v2-containerd-not-docker"] {
            assert_eq!(container_id_from_cgroup(&read(f)), None, "{f}");
        }
    }

    #[test]
    fn usage_sums_per_container_across_processes_and_devices() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let proc_ = |pid, used_mib, id: &str| GpuProcess {
            pid,
            used_mib,
            container_id: (!id.is_empty()).then(|| id.to_string()),
        };
        let device = |index, processes| GpuStatus {
            index,
            uuid: format!("GPU-{index}"),
            name: "test".into(),
            memory_total_mib: 24576,
            memory_used_mib: 0,
            utilization_pct: None,
            temperature_c: None,
            power_w: None,
            processes,
        };
        let devices = [
            device(
                0,
                vec![
                    proc_(10, Some(1000), &a),
                    proc_(11, Some(500), &a),
                    proc_(12, Some(64), ""),
                ],
            ),
            device(1, vec![proc_(13, Some(2000), &a), proc_(14, None, &b)]),
        ];
        let usage = usage_by_container(&devices);
        assert_eq!(usage.len(), 2);
        assert_eq!(usage[&a], (vec![0, 1], 3500));
        assert_eq!(usage[&b], (vec![1], 0));
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
