//! Facts about the host that the template reads (`gpu.*`, `host.*`). The project takes them as
//! input and never probes for them: `crate::host_facts` does, and decides when (see there).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::gpu::GpuInventory;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFacts {
    /// What NVML reported.
    pub gpu: GpuInventory,
    /// Running under WSL.
    pub wsl: bool,
    /// An Azure Kinect enumerated on USB.
    pub kinect: bool,
    /// `DISPLAY` when the facts were taken.
    pub display: String,
}

impl HostFacts {
    /// The facts cached at `path`; `None` when there are none or they do not parse (an older
    /// devstack's format), so the caller probes again.
    pub fn read_cache(path: &Path) -> Option<HostFacts> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Caches the facts at `path` (its directory is created).
    pub fn write_cache(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::GpuDevice;

    #[test]
    fn the_cache_reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".devstack/host-facts.json");
        assert_eq!(HostFacts::read_cache(&path), None);
        let facts = HostFacts {
            gpu: GpuInventory {
                available: true,
                devices: vec![GpuDevice {
                    index: 0,
                    uuid: "GPU-1".into(),
                    name: "RTX".into(),
                    memory_mib: 24564,
                }],
                driver_version: Some("550.54.15".into()),
                ..Default::default()
            },
            wsl: true,
            kinect: true,
            display: ":1".into(),
        };
        facts.write_cache(&path).unwrap();
        assert_eq!(HostFacts::read_cache(&path), Some(facts));
        std::fs::write(&path, "{\"old\": 1}").unwrap();
        assert_eq!(HostFacts::read_cache(&path), None);
    }
}
