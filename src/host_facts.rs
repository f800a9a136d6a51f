//! Probing the machine for the facts the template reads (NVML, the Kinect on USB, WSL) and
//! deciding when to.
//!
//! The rendered compose file, and so every container's config hash, depends on these facts.
//! The verbs that decide the configuration (`up`, `config`, `build`, `doctor`) probe, and the
//! facts a successful render used are cached in `.devstack/host-facts.json` beside the file it
//! wrote; every other verb (`restart`, `stop`, `logs`, `ps`, `down`, …) renders with the cached
//! facts, so it renders what the last `up` rendered and recreates nothing, and skips NVML and
//! the USB scan. It probes only when nothing is cached yet. A camera plugged in or a GPU added
//! takes effect at the next `up`. (`commands/mod.rs` applies this; `project/` never probes.)

use indexmap::IndexMap;

use crate::gpu::GpuInventory;
use crate::project::host::HostFacts;
use crate::project::paths::Paths;

/// Probes everything: NVML, USB, WSL.
pub fn probe(env: &IndexMap<String, String>) -> HostFacts {
    probe_with_gpu(env, crate::gpu::probe())
}

/// Probes USB and WSL; the GPU inventory comes from the caller (`doctor` probes NVML itself).
pub fn probe_with_gpu(env: &IndexMap<String, String>, gpu: GpuInventory) -> HostFacts {
    HostFacts {
        gpu,
        wsl: running_under_wsl(),
        kinect: kinect_on_usb(),
        display: env.get("DISPLAY").cloned().unwrap_or_default(),
    }
}

/// The facts the last probing verb cached; `None` when there are none yet.
pub fn cached(paths: &Paths) -> Option<HostFacts> {
    HostFacts::read_cache(&paths.host_facts())
}

/// Caches the facts a render used, for the verbs that do not probe. A cache that cannot be
/// written only costs the next verb a probe.
pub fn cache(paths: &Paths, facts: &HostFacts) {
    if let Err(e) = facts.write_cache(&paths.host_facts()) {
        tracing::debug!("cannot cache the host facts: {e}");
    }
}

fn running_under_wsl() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.to_lowercase().contains("microsoft"))
        .unwrap_or(false)
}

/// The Kinect's depth camera (045e:097c) enumerated on any USB bus.
fn kinect_on_usb() -> bool {
    use crate::kinect::usb::{scan, Family, DEPTH_PID};
    // an Azure Kinect's depth camera, or an Orbbec Femto that the K4A wrapper serves
    scan(std::path::Path::new("/")).iter().any(|u| {
        u.family == Family::Femto || (u.family == Family::AzureKinect && u.product_id == DEPTH_PID)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_facts_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        assert_eq!(cached(&paths), None);
        let facts = HostFacts {
            kinect: true,
            display: ":9".into(),
            ..Default::default()
        };
        cache(&paths, &facts);
        assert_eq!(cached(&paths), Some(facts));
    }

    #[test]
    fn the_display_is_the_environment_s() {
        let env = IndexMap::from([("DISPLAY".to_string(), ":3".to_string())]);
        let facts = probe_with_gpu(&env, GpuInventory::default());
        assert_eq!(facts.display, ":3");
    }
}
