//! Facts about the host that the template may use: WSL, a Kinect on USB, the X display.

use indexmap::IndexMap;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, Default)]
pub struct HostFacts {
    pub wsl: bool,
    pub kinect: bool,
    pub display: String,
}

impl HostFacts {
    pub fn probe(env: &IndexMap<String, String>) -> Self {
        let wsl = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.to_lowercase().contains("microsoft"))
            .unwrap_or(false);
        HostFacts {
            wsl,
            kinect: kinect_on_usb(),
            display: env.get("DISPLAY").cloned().unwrap_or_default(),
        }
    }
}

/// The Kinect's depth camera (045e:097c) enumerated on any USB bus.
fn kinect_on_usb() -> bool {
    crate::kinect::usb::scan(std::path::Path::new("/"))
        .iter()
        .any(|u| u.product_id == crate::kinect::usb::DEPTH_PID)
}
