//! The Azure Kinect's USB functions as sysfs shows them (research/kinect.md §1), read under a
//! sysroot so tests and `--sysroot` can point elsewhere.

use std::path::Path;

use serde::Serialize;

pub const MICROSOFT_VID: &str = "045e";
pub const DEPTH_PID: &str = "097c";
pub const COLOR_PID: &str = "097d";

/// What each Microsoft product id of the camera is.
pub fn function_name(pid: &str) -> Option<&'static str> {
    Some(match pid {
        "097a" => "SuperSpeed hub",
        "097b" => "USB 2.0 hub",
        DEPTH_PID => "depth camera",
        COLOR_PID => "color camera",
        "097e" => "microphone array",
        _ => return None,
    })
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UsbFunction {
    /// sysfs name, e.g. `2-1.2`.
    pub port: String,
    pub product_id: String,
    pub function: &'static str,
    /// Link speed in Mbit/s (5000 = USB 3 SuperSpeed, 480 = USB 2).
    pub speed_mbps: Option<u32>,
    pub bus: Option<u32>,
    pub device: Option<u32>,
    pub serial: Option<String>,
}

impl UsbFunction {
    pub fn is_usb3(&self) -> bool {
        self.speed_mbps.is_some_and(|s| s >= 5000)
    }
}

fn read(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Every Azure Kinect USB function under `sysroot`/sys/bus/usb/devices, sorted by port.
pub fn scan(sysroot: &Path) -> Vec<UsbFunction> {
    let Ok(entries) = std::fs::read_dir(sysroot.join("sys/bus/usb/devices")) else {
        return Vec::new();
    };
    let mut found: Vec<UsbFunction> = entries
        .flatten()
        .filter_map(|e| {
            let dir = e.path();
            if read(&dir, "idVendor")?.to_ascii_lowercase() != MICROSOFT_VID {
                return None;
            }
            let pid = read(&dir, "idProduct")?.to_ascii_lowercase();
            let function = function_name(&pid)?;
            Some(UsbFunction {
                port: e.file_name().to_string_lossy().into_owned(),
                product_id: pid,
                function,
                speed_mbps: read(&dir, "speed")
                    .and_then(|s| s.parse::<f64>().ok().map(|v| v as u32)),
                bus: read(&dir, "busnum").and_then(|s| s.parse().ok()),
                device: read(&dir, "devnum").and_then(|s| s.parse().ok()),
                serial: read(&dir, "serial"),
            })
        })
        .collect();
    found.sort_by(|a, b| a.port.cmp(&b.port));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(root: &Path, port: &str, vid: &str, pid: &str, speed: &str) {
        let dir = root.join("sys/bus/usb/devices").join(port);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (name, value) in [
            ("idVendor", vid),
            ("idProduct", pid),
            ("speed", speed),
            ("busnum", "2"),
            ("devnum", "7"),
        ] {
            std::fs::write(dir.join(name), format!("{value}\n")).expect("write");
        }
    }

    #[test]
    fn finds_the_camera_functions_and_their_speed() {
        let root = tempfile::tempdir().expect("tempdir");
        device(root.path(), "2-1.2", "045e", "097c", "5000");
        device(root.path(), "1-1.1", "045e", "097e", "480");
        device(root.path(), "3-1", "046d", "097c", "5000");
        let found = scan(root.path());
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].function, "microphone array");
        assert!(!found[0].is_usb3());
        assert_eq!(found[1].function, "depth camera");
        assert!(found[1].is_usb3());
        assert_eq!((found[1].bus, found[1].device), (Some(2), Some(7)));
        assert!(scan(&root.path().join("missing")).is_empty());
    }
}
